"""Step of rule ``train_reference``: the classifier behind recognizability and diversity, trained
on the real train split when the config gives no pretrained weights (reference_classifier.path)."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from .. import config as C
from ..integrity import check, record
from ..io import write_json
from ..logs import Progress
from ..provenance import provenance
from .common import IMAGE_KEYS, load_classes, read_images

log = logging.getLogger("synscale")

KEYS = ("seed", *IMAGE_KEYS, "reference_classifier")
# what reading the reference classifier depends on (rule quality)
MODEL_KEYS = (*IMAGE_KEYS, "reference_classifier.arch", "reference_classifier.kwargs")


def train_reference(cfg: dict, train_shards, val_shards, classes_json, out_ckpt, out_metrics,
                    manifests=()) -> dict:
    from ..classifier import build_model, evaluate, save_checkpoint, train

    check([*train_shards, *val_shards], manifests)
    t0 = time.time()
    rc = cfg["reference_classifier"]
    n_classes = len(load_classes(classes_json)["names"])
    seed = C.seed_for(cfg["seed"], "reference")
    tr = read_images(train_shards, cfg)
    va = read_images(val_shards, cfg)
    model = build_model(rc["arch"], n_classes, cfg["data"]["channels"], rc["kwargs"], seed=seed)
    p = Progress("reference classifier", rc["steps"])
    stats = train(model, tr.images, tr.labels, rc["steps"], max(1, rc["steps"] // 20), rc["batch_size"],
                  rc["lr"], rc["weight_decay"], seed, 0.0, rc["augment"], progress=lambda s, v: p(s + 1, v))
    ev = evaluate(model, va.images, va.labels, n_classes)
    save_checkpoint(model, out_ckpt, {"arch": rc["arch"], "kwargs": rc["kwargs"], "num_classes": n_classes})
    out = {"val_top1": ev["top1"], "val_loss": ev["loss"], "per_class_top1": ev["per_class_top1"], **stats,
           "arch": rc["arch"], "n_train": len(tr), "files": {Path(out_ckpt).name: record(out_ckpt)},
           "provenance": provenance(cfg, seeds={"reference": seed}, wall_time_s=time.time() - t0)}
    write_json(out_metrics, out)
    log.info("reference classifier val top-1 %.4f", ev["top1"])
    return out


def load_reference(cfg: dict, ckpt, n_classes: int):
    from ..classifier import load_checkpoint

    rc = cfg["reference_classifier"]
    return load_checkpoint(ckpt, rc["arch"], n_classes, cfg["data"]["channels"], rc["kwargs"],
                           key="reference_classifier.path")


def main(job) -> dict:
    return train_reference(job.config, job.input["train"], job.input["val"], job.input["classes"],
                           job.output["model"], job.output["metrics"], job.input["manifests"])
