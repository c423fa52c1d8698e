"""The reference classifier that measures a synthetic test set (recognizability, diversity, and FID
and LPIPS in its feature space where no Inception / LPIPS weights are configured): its input
normalisation, loading it on the job's device, reading shards the way it was evaluated, and the
check that it is a good classifier of the real val set before anything is measured with it.

Input normalisation. A classifier the workflow trains sees pixels mapped to [-1, 1]. An external
one (``reference_classifier.path``) sees what it was trained with: ``reference_classifier.
normalization`` when the config gives it, else the mean and std of its timm ``pretrained_cfg``
(``vit_base_patch16_224``: 0.5 / 0.5; most ResNets: ImageNet's). A reference fed the wrong
normalisation scores near chance and silently corrupts every quality number, so every reference's
val top-1 is measured and must clear ``reference_classifier.min_val_top1``.
"""
from __future__ import annotations

import json
from pathlib import Path


def reference_normalization(cfg: dict) -> dict:
    """{"mean", "std", "source"} of the reference classifier's input."""
    rc, ch = cfg["reference_classifier"], cfg["data"]["channels"]
    key = "reference_classifier.normalization"
    norm = rc.get("normalization")
    if norm:
        mean, std, source = list(norm["mean"]), list(norm["std"]), f"config ({key})"
    elif not rc.get("path"):
        mean, std, source = [0.5] * ch, [0.5] * ch, "trained by the workflow (pixels mapped to [-1, 1])"
    else:
        from timm.models import get_pretrained_cfg

        pc = get_pretrained_cfg(rc["arch"])
        if pc is None or pc.mean is None:
            raise ValueError(f"config key '{key}': timm has no pretrained_cfg for reference_classifier.arch="
                             f"{rc['arch']!r}, so the input normalisation the weights at reference_classifier."
                             "path were trained with is unknown; give it: {mean: [...], std: [...]}")
        mean, std, source = list(pc.mean), list(pc.std), f"timm pretrained_cfg of {rc['arch']}"
    if len(mean) != ch or len(std) != ch:
        raise ValueError(f"config key '{key}': the reference's normalisation (from {source}) has "
                         f"{len(mean)} values per statistic, but data.channels is {ch}; give one mean and "
                         "one std per channel: {mean: [...], std: [...]}")
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std], "source": source}


def reference_transform(cfg: dict):
    from synscale.data.loader import eval_transform

    rc, d, n = cfg["reference_classifier"], cfg["data"], reference_normalization(cfg)
    return eval_transform(rc["input_size"], d["channels"], rc["eval_crop_pct"], n["mean"], n["std"])


def reference_loader(cfg: dict, shards, device):
    from synscale.data.loader import ShardPart, make_loader

    rc, d = cfg["reference_classifier"], cfg["data"]
    return make_loader([ShardPart(str(p)) for p in shards], rc["batch_size"], d["image_size"], d["channels"],
                       reference_transform(cfg), workers=min(rc["workers"], len(shards)),
                       pin_memory=device.type == "cuda")


def load_reference(cfg: dict, ckpt, n_classes: int):
    """(model on the job's device, device, autocast dtype)."""
    from synscale.device import job_device, place, resolve_dtype
    from synscale.train.classifier import load_checkpoint

    rc = cfg["reference_classifier"]
    device = job_device()
    model = load_checkpoint(ckpt, rc["arch"], n_classes, cfg["data"]["channels"], rc["kwargs"],
                            key="reference_classifier.path")
    return place(model, device), device, resolve_dtype(rc["amp"], device)


def top1_floor(cfg: dict, n_classes: int) -> float:
    """``reference_classifier.min_val_top1``, or by default a quarter of the way from chance to
    perfect (0.325 for 10 classes, about 0.25 for ImageNet's 1,000): clearly above chance."""
    floor = cfg["reference_classifier"].get("min_val_top1")
    chance = 1.0 / n_classes
    return float(floor) if floor is not None else chance + (1.0 - chance) / 4


def require_good_reference(cfg: dict, metrics_json, n_classes: int) -> dict:
    """The reference's val metrics (``reference/metrics.json``), or an error when its val top-1 is
    below the floor: nothing is measured with a classifier that cannot classify the real data."""
    m = json.loads(Path(metrics_json).read_text())
    fed = reference_normalization(cfg)
    if "normalization" in m and m["normalization"] != fed:  # every metrics.json the workflow writes has it
        raise ValueError(
            f"{metrics_json}: the reference classifier was measured on the real val set with input normalisation "
            f"{m['normalization']}, but this job would feed it {fed}: its measures would not be the "
            "reference's. Re-run the reference's evaluation (snakemake --forcerun evaluate_reference or "
            "train_reference) after changing reference_classifier.normalization or reference_classifier.path.")
    floor = top1_floor(cfg, n_classes)
    if m["val_top1"] < floor:
        n = m.get("normalization") or fed
        raise ValueError(
            f"{metrics_json}: the reference classifier scores val top-1 {m['val_top1']:.3f} on the real val set, "
            f"below reference_classifier.min_val_top1 = {floor:.3f} (chance: {1 / n_classes:.3f}), so its "
            "recognizability, diversity, FID and LPIPS would be meaningless. Likely causes: the input "
            f"normalisation (now mean {n['mean']} / std {n['std']} from {n['source']}; set "
            "reference_classifier.normalization to what the weights were trained with), or the class order "
            "(data.class_index must list the classes in the order of the model's outputs). Lower "
            "reference_classifier.min_val_top1 only if this accuracy is really expected.")
    return m


def evaluate_on_val(cfg: dict, model, device, amp, val_shards, n_classes: int) -> dict:
    """Top-1, loss and per-class top-1 of the reference on the real val set, with the normalisation
    it was fed."""
    from synscale.train.classifier import predict, scores

    lg, y, _ = predict(model, reference_loader(cfg, val_shards, device), amp)
    ev = scores(lg, y, n_classes)
    return {"val_top1": ev["top1"], "val_loss": ev["loss"], "per_class_top1": ev["per_class_top1"],
            "normalization": reference_normalization(cfg)}
