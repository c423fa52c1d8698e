"""Steps of rules ``generate_shard`` and ``generate_testset``: synthetic images of a run, each shard
a pure function of (run, shard index, seed)."""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Sequence

from synscale.clip.captions import read_block
from synscale.logs import Progress
from synscale.provenance import provenance
from synscale.steps.common import load_classes

log = logging.getLogger("synscale")


INDEX_EVERY = 1000  # a generated shard's manifest records where every 1000th sample starts


def load_prompt_table(path: str | Path, n_classes: int):
    import pandas as pd

    from synscale.prompts.sets import check_table

    try:
        df = pd.read_parquet(path)
    except Exception as e:
        raise ValueError(f"{path}: unreadable prompt table ({e}); rebuild it with "
                         f"snakemake --forcerun {path}") from None
    check_table(df, n_classes, str(path))
    return df


def source_parts(block_table: str | Path, offsets: Sequence[int]) -> list[dict]:
    """Where each source shard's twins start in a twin shard: per source shard of the block, in
    order, its first sample, its sample count and the byte offset of that sample (so a training
    process reads one source shard's twins without reading the shard from its start)."""
    block = read_block(str(block_table))
    out = []
    for i, src in enumerate(block["shard"].tolist()):
        if not out or out[-1]["source"] != src:
            out.append({"source": src, "first": i, "count": 0, "offset": int(offsets[i])})
        out[-1]["count"] += 1
    return out


def twin_prompts(block_table: str | Path):
    """(labels, prompts, keys) of a caption block: one image per caption, in order, under its key
    (labels -1 where the dataset has no classes)."""
    import numpy as np

    block = read_block(str(block_table))
    return block["class_index"].to_numpy(np.int64), block["caption"].tolist(), block["key"].tolist()


def job_prompts(cfg: dict, run: dict, shard: int | str, prompt_table, classes_json):
    """(labels, prompts, keys, key offset) of a generation job."""
    if run["twins"]:
        labels, prompts, keys = twin_prompts(prompt_table)
        return labels, prompts, keys, 0
    from synscale.prompts.sets import pick_prompts
    from synscale.t2i.generate import shard_labels, testset_labels

    n_classes = len(load_classes(classes_json)["names"])
    table = load_prompt_table(prompt_table, n_classes)
    if shard == "test":
        labels, offset = testset_labels(cfg["generation"]["testset_per_class"], n_classes), 0
    else:
        ss = cfg["generation"]["shard_size"]
        labels, offset = shard_labels(int(shard), ss, n_classes), int(shard) * ss
    return labels, pick_prompts(table, labels, cfg["seed"], run["name"], shard), None, offset


def _pipeline(cfg: dict, run: dict, pipe_dirs: Sequence[str]):
    from synscale.device import job_device, place, resolve_dtype
    from synscale.t2i.samplers import load_sampler

    model = run["model"]
    m = cfg["models"][model]
    device = job_device()
    dtype = resolve_dtype(m["dtype"], device)
    return place(load_sampler(m["family"], list(pipe_dirs), m, model, dtype=dtype), device), device, dtype


#: a job samples its images in at most this many parts, each saved beside its output
#: (``<tar>.part-NNNN.npz``) until the shard is written: a retry of a job that was killed keeps the
#: parts it finished and samples only the missing ones
MAX_PARTS = 16


def part_path(out_tar: str | Path, part: int) -> Path:
    return Path(f"{out_tar}.part-{part:04d}.npz")


def part_batches(n_batches: int, max_parts: int = MAX_PARTS) -> list[list[int]]:
    """The batch indices of each part: consecutive runs of batches, at most ``max_parts`` parts."""
    per = max(1, -(-n_batches // max_parts))
    return [list(range(lo, min(lo + per, n_batches))) for lo in range(0, n_batches, per)]


def part_identity(cfg: dict, run: dict, shard, prompts: Sequence[str], pipe_dirs: Sequence[str]) -> str:
    """What a kept part must have been sampled with: the run, shard, seed, model section, image
    size, the prompts themselves and the model files (names, sizes, modification times)."""
    import hashlib

    files = sorted((str(f), f.stat().st_size, f.stat().st_mtime_ns) for d in pipe_dirs for f in Path(d).rglob("*")
                   if f.is_file())
    what = {"run": run["name"], "guidance": float(run["guidance"]), "shard": str(shard), "seed": cfg["seed"],
            "model": cfg["models"][run["model"]], "size": cfg["data"]["image_size"],
            "channels": cfg["data"]["channels"], "prompts": list(prompts), "files": files}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def _kept(path: Path, identity: str, batches: list[int]) -> bool:
    """Whether ``path`` is a finished part of this job (same identity and batches)."""
    import numpy as np

    try:
        with np.load(path) as z:
            return str(z["identity"]) == identity and z["batches"].tolist() == batches
    except FileNotFoundError:
        return False
    except Exception as e:  # cut short or foreign: sampled again
        log.warning("%s: not a usable part (%s); sampling it again", path, e)
        return False


def sample_parts(cfg: dict, run: dict, shard, pipe_dirs: Sequence[str], prompts: Sequence[str], out_tar,
                 rank: int = 0, world: int = 1, progress=None) -> None:
    """Sample the parts p with p % world == rank that are not on disk yet, each saved atomically
    with its batch indices, the job's identity, the device and the sampler's record."""
    import numpy as np

    from synscale.device import describe
    from synscale.io import atomic_path
    from synscale.t2i.generate import sample_images

    m = cfg["models"][run["model"]]
    chunks = part_batches(-(-len(prompts) // m["batch_size"]))
    identity = part_identity(cfg, run, shard, prompts, pipe_dirs)
    mine = [p for p in range(len(chunks)) if p % world == rank]
    todo = [p for p in mine if not _kept(part_path(out_tar, p), identity, chunks[p])]
    if len(todo) < len(mine):
        log.info("%s shard %s: kept %d of %d parts from an earlier attempt; sampling the missing %d",
                 run["name"], shard, len(mine) - len(todo), len(mine), len(todo))
    if not todo:
        return
    pipe, device, dtype = _pipeline(cfg, run, pipe_dirs)
    size, ch = cfg["data"]["image_size"], cfg["data"]["channels"]
    done = sum(len(chunks[p]) for p in mine if p not in todo) * m["batch_size"]
    for p in todo:
        images = sample_images(pipe, prompts, float(run["guidance"]), m["steps"], m["batch_size"],
                               (cfg["seed"], run["name"], shard), size, ch, batches=chunks[p])
        with atomic_path(part_path(out_tar, p)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, images=images, batches=np.asarray(chunks[p], dtype=np.int64), identity=identity,
                         device=json.dumps(describe(device, dtype)), sampling=json.dumps(pipe.describe()))
        done += len(images)
        if progress:
            progress(min(done, len(prompts)))


def sample_part(rank: int, world: int, spec: dict) -> None:
    """One process of a multi-GPU generation job (``synscale.train.launch``): its missing parts."""
    cfg, run, shard = spec["config"], spec["run"], spec["shard"]
    _, prompts, _, _ = job_prompts(cfg, run, shard, spec["prompts"], spec["classes"])
    log.info("%s shard %s: process %d of %d", run["name"], shard, rank, world)
    sample_parts(cfg, run, shard, spec["pipe_dirs"], prompts, spec["out_tar"], rank, world)


def assemble_parts(out_tar, n_prompts: int, batch_size: int):
    """(images in batch order, the device record, the sampler's record) of a job's parts."""
    import numpy as np

    n = len(part_batches(-(-n_prompts // batch_size)))
    images, device, sampling = [], None, None
    for p in range(n):
        with np.load(part_path(out_tar, p)) as z:
            device = device or json.loads(str(z["device"]))
            sampling = sampling or json.loads(str(z["sampling"]))
            images.append(z["images"])
    images = np.concatenate(images)
    if len(images) != n_prompts:
        raise RuntimeError(f"{out_tar}: its {n} parts hold {len(images)} images for {n_prompts} prompts")
    return images, device, sampling


def remove_parts(out_tar) -> None:
    for p in Path(out_tar).parent.glob(f"{Path(out_tar).name}.part-*.npz"):
        p.unlink(missing_ok=True)


def sample_on_processes(cfg: dict, run: dict, shard, pipe_dirs, prompt_table, classes_json, out_tar,
                        n_prompts: int, gpus: int):
    """Sample a job's missing parts on ``gpus`` processes (one node, ``synscale.train.launch``) and
    assemble them in batch order: the same images as one process would sample. Returns (images, the
    device record, the sampler's record ``Sampler.describe()``)."""
    from synscale.train.launch import launch

    spec = {"entry": "synscale.steps.generate:sample_part", "config": cfg, "run": run, "shard": shard,
            "pipe_dirs": list(pipe_dirs), "prompts": str(prompt_table), "classes": str(classes_json),
            "out_tar": str(out_tar), "threads": 1}
    launch(spec, f"{out_tar}.job.json", 1, gpus)
    return assemble_parts(out_tar, n_prompts, cfg["models"][run["model"]]["batch_size"])


def generate_images(cfg: dict, run: dict, shard: int | str, pipe_dir: str | Path, prompt_table: str | Path,
                    classes_json: str | Path, out_tar: str | Path, out_manifest: str | Path, gpus: int = 1) -> dict:
    """Generate shard ``shard`` (an int) or the synthetic test set (shard == 'test') of ``run``
    (the rule's structured run: name, model, guidance, prompt, twins). ``run["twins"]``:
    ``prompt_table`` is a caption dataset's block (``synscale.clip.captions``) and the shard holds one
    image per caption, in its order and under its key. ``gpus``: processes sampling the images
    (each a share of the batches, with the same per-batch seeds)."""
    from synscale.data.shards import write_manifest
    from synscale.device import work_record
    from synscale.t2i.generate import generate_set
    from synscale.t2i.samplers import pipeline_dirs

    name = run["name"]
    inject_failure(name, shard)
    t0 = time.time()
    m = cfg["models"][run["model"]]
    labels, prompts, keys, offset = job_prompts(cfg, run, shard, prompt_table, classes_json)
    pipe_dirs = [str(pipe_dir)] if isinstance(pipe_dir, (str, Path)) else list(map(str, pipe_dir))
    pipe_dirs = pipeline_dirs(m["family"], pipe_dirs)
    pipe = None
    prog = Progress(f"{name} shard {shard}", len(labels))
    if gpus > 1:
        images, dev, sampling = sample_on_processes(cfg, run, shard, pipe_dirs, prompt_table, classes_json, out_tar,
                                                    len(prompts), gpus)
        dev = {**dev, "processes": gpus}
    else:  # in parts: a retry samples only those its killed attempt did not finish
        sample_parts(cfg, run, shard, pipe_dirs, prompts, out_tar, progress=prog)
        images, dev, sampling = assemble_parts(out_tar, len(prompts), m["batch_size"])
    offsets: list[int] = []
    info = generate_set(pipe, out_tar, name, shard, labels, prompts, float(run["guidance"]), m["steps"],
                        m["batch_size"],
                        cfg["seed"], cfg["data"]["image_size"], cfg["data"]["channels"],
                        key_offset=offset, progress=lambda done, tot: prog(done), keys=keys, images=images,
                        offsets=offsets)
    remove_parts(out_tar)
    info.pop("seconds")
    if pipe is not None:
        sampling = pipe.describe()
    size = cfg["data"]["image_size"]
    info["sampling"] = {**sampling, "stored_resolution": [size, size]}
    info["index"] = {"every": INDEX_EVERY, "offsets": offsets[::INDEX_EVERY]}  # where sample 0, k, 2k, ... start
    if run["twins"]:
        info["source_parts"] = source_parts(prompt_table, offsets)
    seconds = time.time() - t0
    # the job's work, device and throughput, for the cost ledger (synscale.ops.ledger)
    work = work_record("images", len(labels), seconds, dev, int(gpus), resolution=size)
    man = write_manifest(out_tar, out_manifest, run=name, shard_index=shard, model_dir=pipe_dirs[0],
                         model_dirs=pipe_dirs, family=m["family"], prompt_set=run["prompt"], **info, **dev,
                         work=work, provenance=provenance(cfg, seeds={"shard": info["seed"]}, wall_time_s=seconds))
    log.info("%s shard %s: %d images, sha256 %s", name, shard, man["count"], man["sha256"][:12])
    return man


def inject_failure(run: str, shard) -> None:
    """Failure injection for the cluster tests: SYNSCALE_FAIL_SHARDS='run:shard,...'."""
    wanted = {s.strip() for s in os.environ.get("SYNSCALE_FAIL_SHARDS", "").split(",") if s.strip()}
    if f"{run}:{shard}" in wanted:
        raise RuntimeError(f"injected failure for {run} shard {shard} (SYNSCALE_FAIL_SHARDS)")


def _generate(job, shard: int | str) -> dict:
    return generate_images(job.config, job.params["run"], shard, job.input["model"], job.input["prompts"],
                           job.input["classes"], job.output["tar"], job.output["manifest"],
                           gpus=int(job.resources.get("gpu") or 1))


def generate_shard(job) -> dict:
    return _generate(job, int(job.params["shard"]))


def generate_testset(job) -> dict:
    return _generate(job, "test")
