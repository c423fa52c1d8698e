"""Steps of rules ``generate_shard`` and ``generate_testset``: synthetic images of a run, each shard
a pure function of (run, shard index, seed)."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from .. import config as C
from ..logs import Progress
from ..provenance import provenance
from .common import IMAGE_KEYS, load_classes

log = logging.getLogger("synscale")


def keys(model: str, testset: bool) -> tuple[str, ...]:
    """A shard depends on the shard size, the test set on its size; both on how the model samples
    (its weights arrive as an input)."""
    size = "generation.testset_per_class" if testset else "generation.shard_size"
    per_model = ("family", "steps", "batch_size", "dtype", "sr_steps", "sr_guidance", "noise_level")
    return ("seed", *IMAGE_KEYS, size, *(f"models.{model}.{k}" for k in per_model))


def load_prompt_table(path: str | Path, n_classes: int):
    import pandas as pd

    from ..prompts import check_table

    try:
        df = pd.read_parquet(path)
    except Exception as e:
        raise ValueError(f"{path}: unreadable prompt table ({e}); rebuild it with "
                         f"snakemake --forcerun {path}") from None
    check_table(df, n_classes, str(path))
    return df


def generate(cfg: dict, run: str, shard: int | str, pipe_dir: str | Path, prompt_table: str | Path,
             classes_json: str | Path, out_tar: str | Path, out_manifest: str | Path) -> dict:
    """Generate shard ``shard`` (an int) or the synthetic test set (shard == 'test')."""
    from ..device import describe, job_device, place, resolve_dtype
    from ..generate import generate_set, shard_labels, testset_labels
    from ..prompts import pick_prompts
    from ..samplers import load_sampler, pipeline_dirs
    from ..shards import write_manifest

    inject_failure(run, shard)
    t0 = time.time()
    model, guidance, prompt_set = C.parse_name(run)
    m = cfg["models"][model]
    n_classes = len(load_classes(classes_json)["names"])
    table = load_prompt_table(prompt_table, n_classes)
    if shard == "test":
        labels = testset_labels(cfg["generation"]["testset_per_class"], n_classes)
        offset = 0
    else:
        ss = cfg["generation"]["shard_size"]
        labels = shard_labels(int(shard), ss, n_classes)
        offset = int(shard) * ss
    prompts = pick_prompts(table, labels, cfg["seed"], run, shard)
    device = job_device()
    dtype = resolve_dtype(m["dtype"], device)
    pipe_dirs = [str(pipe_dir)] if isinstance(pipe_dir, (str, Path)) else list(map(str, pipe_dir))
    pipe_dirs = pipeline_dirs(m["family"], pipe_dirs)
    pipe = place(load_sampler(m["family"], pipe_dirs, m, model, dtype=dtype), device)
    prog = Progress(f"{run} shard {shard}", len(labels))
    info = generate_set(pipe, out_tar, run, shard, labels, prompts, guidance, m["steps"], m["batch_size"],
                        cfg["seed"], cfg["data"]["image_size"], cfg["data"]["channels"],
                        key_offset=offset, progress=lambda done, tot: prog(done))
    info.pop("seconds")
    man = write_manifest(out_tar, out_manifest, run=run, shard_index=shard, model_dir=pipe_dirs[0],
                         model_dirs=pipe_dirs, family=m["family"], prompt_set=prompt_set, **info,
                         **describe(device, dtype),
                         provenance=provenance(cfg, seeds={"shard": info["seed"]}, wall_time_s=time.time() - t0))
    log.info("%s shard %s: %d images, sha256 %s", run, shard, man["count"], man["sha256"][:12])
    return man


def inject_failure(run: str, shard) -> None:
    """Failure injection for the cluster tests: SYNSCALE_FAIL_SHARDS='run:shard,...'."""
    wanted = {s.strip() for s in os.environ.get("SYNSCALE_FAIL_SHARDS", "").split(",") if s.strip()}
    if f"{run}:{shard}" in wanted:
        raise RuntimeError(f"injected failure for {run} shard {shard} (SYNSCALE_FAIL_SHARDS)")


def main(job) -> dict:
    shard = job.params["shard"]
    return generate(job.config, job.params["run"], shard if shard == "test" else int(shard), job.input["model"],
                    job.input["prompts"], job.input["classes"], job.output["tar"], job.output["manifest"])
