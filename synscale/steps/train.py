"""Step of rule ``train_classifier``: a classifier trained from scratch on D images of a run (the
first D of a synthetic run; the seeded, class-balanced subset of D that the data index selects of
the real data: ``synscale.data.index``) with the Table A1 recipe (``synscale.recipe``), streaming its shards, on
``classifier.nodes x classifier.gpus`` processes (``synscale.train.launch``; gloo CPU processes where
there is no GPU), resumable from its last checkpoint."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

from synscale import config as C
from synscale.data.integrity import check, record
from synscale.io import read_json, write_json
from synscale.logs import Progress
from synscale.provenance import provenance
from synscale.seeds import seed_for
from synscale.steps.common import load_classes, set_threads
from synscale.train.resume import resume_path

log = logging.getLogger("synscale")


def train_at_scale(cfg: dict, run: str, scale: int, shards: Sequence[str | Path], classes_json,
                   out_ckpt: str | Path, out_json: str | Path, threads: int = 1,
                   manifests: Sequence[str | Path] = (), run_classifier: dict | None = None,
                   index: str | Path | None = None) -> dict:
    """``manifests``: the manifests covering ``shards`` (checked before training);
    ``run_classifier``: the run's own classifier (``runs[].classifier``: arch, kwargs);
    ``index``: the real data's index (real runs: the subset of ``scale`` is drawn from it)."""
    from synscale.train.launch import launch

    check(shards, manifests)
    cc = C.run_classifier(cfg["classifier"], run_classifier)
    per_proc = max(1, int(threads) // cc["gpus"])
    spec = {"entry": "synscale.steps.train:train_job", "config": cfg, "classifier": cc, "run": run, "scale": int(scale),
            "shards": list(map(str, shards)),
            "classes": str(classes_json), "index": str(index) if index else None, "out_ckpt": str(out_ckpt),
            "out_json": str(out_json), "threads": per_proc}
    launch(spec, str(out_ckpt) + ".job.json", cc["nodes"], cc["gpus"], per_proc)
    return read_json(out_json)


def _parts(cfg: dict, run: str, scale: int, spec: dict):
    """The parts of the shards a run trains on at ``scale`` and what to record of them: a synthetic
    run's first ``scale`` images; a real run's class-balanced subset from the data index."""
    from synscale.data import index as X
    from synscale.data.loader import prefix_parts, selected_parts

    if run.split("-")[0] != C.REAL:
        return prefix_parts(spec["shards"], scale, cfg["generation"]["shard_size"]), {}
    if not spec.get("index"):
        raise ValueError(f"{run}: a real-data run trains on a subset drawn from the data index; none was given")
    index = read_json(spec["index"])
    X.check_index(index, spec["shards"], spec["index"])
    seed = seed_for(cfg["seed"], "real-subset")
    counts = X.subset_counts(index, scale, seed)
    return selected_parts(X.select(index, scale, seed)), {
        "real_subset": {"seed": seed, "class_counts": counts, "index": Path(spec["index"]).name}}


def train_job(rank: int, world: int, spec: dict) -> None:
    """One process of a training job (``synscale.train.launch.worker``)."""
    from synscale.config import recipes as R
    from synscale.data.loader import make_loader, manifest_index, split_parts, train_transform
    from synscale.device import describe, job_device, place, resolve_dtype, work_record
    from synscale.train.classifier import build_model, resume_identity, save_checkpoint, train_loop
    from synscale.train.resume import load_resume

    cfg, cc, run, scale = spec["config"], spec["classifier"], spec["run"], spec["scale"]
    set_threads(spec["threads"])
    t0 = time.time()
    recipe = R.build(cc, scale)
    if world != recipe.world:
        raise RuntimeError(f"{world} processes started, but classifier.nodes x classifier.gpus = {recipe.world}")
    device = job_device()
    amp = resolve_dtype(cc["amp"], device)
    n_classes = len(load_classes(spec["classes"])["names"])
    parts, subset = _parts(cfg, run, scale, spec)
    # few large shards (small D): each loader slot reads its own pieces of them, not all of them
    parts = split_parts(parts, world * max(1, cc["workers"]), manifest_index)
    seed = seed_for(cfg["seed"], "train", run, scale)
    model = build_model(cc["arch"], n_classes, cfg["data"]["channels"], R.model_kwargs(cc["arch"], cc), seed=seed)
    model = place(model, device)
    resume = resume_path(spec["out_ckpt"])
    state = load_resume(resume, resume_identity(recipe, seed, world))
    start = state["step"] if state else 0
    del state
    loader = make_loader(parts, recipe.micro_batch, cfg["data"]["image_size"], cfg["data"]["channels"],
                         train_transform(recipe.input_size, cfg["data"]["channels"], recipe.augment), train=True,
                         seed=seed, rank=rank, world=world, start_batch=start * recipe.accum, workers=cc["workers"],
                         shuffle_buffer=cc["shuffle_buffer"], pin_memory=device.type == "cuda")
    p = Progress(f"train {run} D={scale}", recipe.iters)
    stats = train_loop(model, loader, recipe, n_classes, seed, amp, resume_path=resume,
                       checkpoint_every=cc["checkpoint_every"],
                       progress=(lambda s, v: p(s + 1, v)) if rank == 0 else None, rank=rank, world_size=world)
    if rank != 0:
        return
    model.cpu()
    meta = {"run": run, "scale": scale, "arch": cc["arch"], "kwargs": R.model_kwargs(cc["arch"], cc),
            "num_classes": n_classes}
    save_checkpoint(model, spec["out_ckpt"], meta)
    dev = describe(device, amp)
    steps = stats["iters"] - stats["resumed_from"]
    # the job's work, device and throughput, for the cost ledger (synscale.ops.ledger)
    work = work_record("samples", steps * recipe.global_batch, stats["train_seconds"], dev, world, steps=steps,
                       resolution=recipe.input_size)
    out = {**meta, **subset, **stats, "recipe": recipe.as_dict(), **dev, "work": work,
           "files": {Path(spec["out_ckpt"]).name: record(spec["out_ckpt"])},
           "provenance": provenance(cfg, seeds={"train": seed}, wall_time_s=time.time() - t0)}
    write_json(spec["out_json"], out)
    resume.unlink(missing_ok=True)


def train_classifier(job) -> dict:
    return train_at_scale(job.config, job.params["run"], int(job.params["scale"]), job.input["shards"],
                          job.input["classes"], job.output["model"], job.output["info"], threads=job.threads,
                          manifests=job.input["manifests"], run_classifier=job.params.get("classifier"),
                          index=(job.input.get("index") or [None])[0])
