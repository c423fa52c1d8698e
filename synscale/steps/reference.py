"""Steps of the reference classifier's rules: ``train_reference`` (the classifier behind
recognizability and diversity, trained on the real train split when the config gives no pretrained
weights), ``reference_external`` (the user's weights at ``reference_classifier.path`` linked in place)
and ``evaluate_reference`` (the external reference's top-1 and loss on the real val set). Every
reference has a ``reference/metrics.json`` that the quality jobs check before using it."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from synscale.data.integrity import check, record
from synscale.io import write_json
from synscale.logs import Progress
from synscale.measure.reference import evaluate_on_val, reference_normalization
from synscale.provenance import provenance
from synscale.seeds import seed_for
from synscale.steps.common import load_classes

log = logging.getLogger("synscale")


def recipe(rc: dict):
    """The reference classifier's recipe: the classifiers' training code with AdamW, softmax
    cross-entropy, 5% warm-up and cosine decay over ``steps``, on one process."""
    from synscale.config import recipes as R
    cc = {"batch_size": rc["batch_size"], "max_device_batch": rc["batch_size"], "nodes": 1, "gpus": 1,
          "optimizer": {"name": "adamw", "betas": [0.9, 0.999], "eps": 1e-8}, "lr": rc["lr"],
          "weight_decay": rc["weight_decay"], "warmup_lr": 1e-6, "min_lr": 0.0, "loss": "ce",
          "label_smoothing": 0.0, "mixup": 0.0, "input_size": rc["input_size"], "augment": rc["augment"]}
    return R.build(cc, iters=rc["steps"], warmup=max(1, rc["steps"] // 20))


def train_on_real(cfg: dict, train_shards, val_shards, classes_json, out_ckpt, out_metrics,
                    manifests=()) -> dict:
    from synscale.data.loader import ShardPart, make_loader, train_transform
    from synscale.device import describe, job_device, place, resolve_dtype
    from synscale.train.classifier import build_model, save_checkpoint, train_loop

    check([*train_shards, *val_shards], manifests)
    t0 = time.time()
    rc, d = cfg["reference_classifier"], cfg["data"]
    n_classes = len(load_classes(classes_json)["names"])
    seed = seed_for(cfg["seed"], "reference")
    device = job_device()
    amp = resolve_dtype(rc["amp"], device)
    r = recipe(rc)
    model = place(build_model(rc["arch"], n_classes, d["channels"], rc["kwargs"], seed=seed), device)
    loader = make_loader([ShardPart(str(p)) for p in train_shards], r.micro_batch, d["image_size"], d["channels"],
                         train_transform(rc["input_size"], d["channels"], rc["augment"],
                                         **_mean_std(reference_normalization(cfg))), train=True, seed=seed,
                         workers=min(rc["workers"], len(train_shards)), pin_memory=device.type == "cuda")
    p = Progress("reference classifier", r.iters)
    stats = train_loop(model, loader, r, n_classes, seed, amp, progress=lambda s, v: p(s + 1, v))
    ev = evaluate_on_val(cfg, model, device, amp, val_shards, n_classes)
    model.cpu()
    save_checkpoint(model, out_ckpt, {"arch": rc["arch"], "kwargs": rc["kwargs"], "num_classes": n_classes})
    out = {**ev, **stats,
           "recipe": r.as_dict(), "arch": rc["arch"], **describe(device, amp),
           "files": {Path(out_ckpt).name: record(out_ckpt)},
           "provenance": provenance(cfg, seeds={"reference": seed}, wall_time_s=time.time() - t0)}
    write_json(out_metrics, out)
    log.info("reference classifier val top-1 %.4f", ev["val_top1"])
    return out


def _mean_std(norm: dict) -> dict:
    return {"mean": norm["mean"], "std": norm["std"]}


def evaluate_external(cfg: dict, ckpt, val_shards, classes_json, out_metrics, manifests=()) -> dict:
    """An external reference's top-1 and loss on the real val set, fed its own normalisation."""
    from synscale.device import describe
    from synscale.measure.reference import load_reference

    check(val_shards, manifests)
    t0 = time.time()
    n_classes = len(load_classes(classes_json)["names"])
    model, device, amp = load_reference(cfg, ckpt, n_classes)
    ev = evaluate_on_val(cfg, model, device, amp, val_shards, n_classes)
    out = {**ev, "arch": cfg["reference_classifier"]["arch"], "path": str(cfg["reference_classifier"]["path"]),
           **describe(device, amp), "provenance": provenance(cfg, wall_time_s=time.time() - t0)}
    write_json(out_metrics, out)
    log.info("external reference classifier: val top-1 %.4f, loss %.4f (normalisation: %s)", ev["val_top1"],
             ev["val_loss"], ev["normalization"]["source"])
    return out


def evaluate_reference(job) -> dict:
    return evaluate_external(job.config, job.input["model"], job.input["val"], job.input["classes"],
                             job.output["metrics"], job.input["manifests"])


def train_reference(job) -> dict:
    return train_on_real(job.config, job.input["train"], job.input["val"], job.input["classes"],
                           job.output["model"], job.output["metrics"], job.input["manifests"])


def reference_external(job) -> None:
    """An external reference classifier (``reference_classifier.path``) as the workflow's
    ``reference/model.pt``: a symbolic link to the real path, made in Python (no shell sees the
    path), atomically."""
    import os

    target = os.path.realpath(job.input["weights"])
    final = Path(job.output["model"])
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, final)
    log.info("reference classifier: %s -> %s", final, target)
