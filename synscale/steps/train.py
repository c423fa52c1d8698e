"""Step of rule ``train_classifier``: a classifier trained from scratch on the first D images of a
run, in ``classifier.gpus`` data-parallel processes (gloo CPU processes where there is no GPU)."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import config as C
from ..integrity import check, record
from ..io import read_json, write_json
from ..logs import Progress
from ..provenance import provenance
from .common import IMAGE_KEYS, load_classes, read_images, set_threads

log = logging.getLogger("synscale")

KEYS = ("seed", *IMAGE_KEYS, *(f"classifier.{k}" for k in (
    "arch", "kwargs", "batch_size", "lr", "weight_decay", "label_smoothing", "augment", "gpus",
    "checkpoint_every", "schedule")))


def train_at_scale(cfg: dict, run: str, scale: int, shards: Sequence[str | Path], classes_json,
                   out_ckpt: str | Path, out_json: str | Path, threads: int = 1,
                   manifests: Sequence[str | Path] = ()) -> dict:
    """``manifests``: the manifests covering ``shards`` (checked before training)."""
    from .. import distributed

    check(shards, manifests)
    world = cfg["classifier"]["gpus"]
    per_proc = max(1, int(threads) // world)
    distributed.run(_train_job, world, cfg, run, scale, list(map(str, shards)), str(classes_json),
                    str(out_ckpt), str(out_json), per_proc, threads_per_process=per_proc)
    return read_json(out_json)


def _train_job(rank: int, world: int, cfg: dict, run: str, scale: int, shards: list[str],
               classes_json: str, out_ckpt: str, out_json: str, threads: int) -> None:
    from ..classifier import build_model, save_checkpoint, train
    from ..distributed import device_for

    set_threads(threads)
    t0 = time.time()
    cc = cfg["classifier"]
    n_classes = len(load_classes(classes_json)["names"])
    data = read_images(shards, cfg, limit=scale)
    iters, warm = C.iterations(scale, cc["schedule"])
    seed = C.seed_for(cfg["seed"], "train", run, scale)
    model = build_model(cc["arch"], n_classes, cfg["data"]["channels"], cc["kwargs"], seed=seed)
    model.to(device_for(rank))
    p = Progress(f"train {run} D={scale}", iters)
    resume = Path(str(out_ckpt) + ".resume")
    stats = train(model, data.images, data.labels, iters, warm, cc["batch_size"], cc["lr"],
                  cc["weight_decay"], seed, cc["label_smoothing"], cc["augment"],
                  resume_path=resume, checkpoint_every=cc["checkpoint_every"],
                  progress=(lambda s, v: p(s + 1, v)) if rank == 0 else None, rank=rank, world_size=world)
    if rank != 0:
        return
    model.cpu()
    meta = {"run": run, "scale": scale, "arch": cc["arch"], "kwargs": cc["kwargs"], "num_classes": n_classes}
    save_checkpoint(model, out_ckpt, meta)
    out = {**meta, **stats, "class_counts": np.bincount(data.labels, minlength=n_classes).tolist(),
           "files": {Path(out_ckpt).name: record(out_ckpt)},
           "provenance": provenance(cfg, seeds={"train": seed}, wall_time_s=time.time() - t0)}
    write_json(out_json, out)


def main(job) -> dict:
    return train_at_scale(job.config, job.params["run"], int(job.params["scale"]), job.input["shards"],
                          job.input["classes"], job.output["model"], job.output["info"], threads=job.threads,
                          manifests=job.input["manifests"])
