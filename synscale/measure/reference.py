"""The reference classifier that measures a synthetic test set (recognizability, diversity, and FID
and LPIPS in its feature space where no Inception / LPIPS weights are configured): loading it on
the job's device and reading shards the way it was evaluated."""
from __future__ import annotations


def reference_loader(cfg: dict, shards, device):
    from synscale.data.loader import ShardPart, eval_transform, make_loader

    rc, d = cfg["reference_classifier"], cfg["data"]
    return make_loader([ShardPart(str(p)) for p in shards], rc["batch_size"], d["image_size"], d["channels"],
                       eval_transform(rc["input_size"], d["channels"], rc["eval_crop_pct"]),
                       workers=min(rc["workers"], len(shards)), pin_memory=device.type == "cuda")


def load_reference(cfg: dict, ckpt, n_classes: int):
    """(model on the job's device, device, autocast dtype)."""
    from synscale.device import job_device, place, resolve_dtype
    from synscale.train.classifier import load_checkpoint

    rc = cfg["reference_classifier"]
    device = job_device()
    model = load_checkpoint(ckpt, rc["arch"], n_classes, cfg["data"]["channels"], rc["kwargs"],
                            key="reference_classifier.path")
    return place(model, device), device, resolve_dtype(rc["amp"], device)
