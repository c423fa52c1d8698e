"""Steps of rules ``prompts`` (one prompt table per prompt set) and ``captions`` (BLIP-2 captions
of a chunk of real train shards, for prompt set incap)."""
from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Sequence

from synscale.data.integrity import record
from synscale.io import atomic_path, write_json
from synscale.provenance import provenance
from synscale.steps.common import load_classes

log = logging.getLogger("synscale")




def build_prompts(cfg: dict, prompt_set: str, classes_json: str | Path, inputs: Sequence[str | Path],
                  out_parquet: str | Path, out_json: str | Path) -> dict:
    """One prompt table. ``inputs``: for incap, the per-shard caption tables (a BLIP-2 captioner) or
    the real train shards (the embedded image_stats captioner); unused by the other sets."""
    from synscale.prompts.sets import build_prompt_set

    t0 = time.time()
    classes = load_classes(classes_json)
    df, info = build_prompt_set(cfg, prompt_set, classes["names"], classes["ids"], inputs)
    with atomic_path(out_parquet) as tmp:
        df.to_parquet(tmp, index=False)
    info["captioner"] = (info["models"].get("captioner") or {}).get("name")
    info["files"] = {Path(out_parquet).name: record(out_parquet)}  # checked by python -m synscale.verify
    info["provenance"] = provenance(cfg, seeds={"prompts": info["seed"]}, wall_time_s=time.time() - t0,
                                    models=info["models"])
    write_json(out_json, info)
    log.info("%s: %d prompts (%d-%d per class) in %.1fs%s", prompt_set, info["n_prompts"], info["per_class_min"],
             info["per_class_max"], time.time() - t0,
             f"; TEST MODELS: {', '.join(info['test_models'])}" if info["test_models"] else "")
    return info


def caption_shards(cfg: dict, shards: Sequence[str | Path], out_parquet: str | Path, out_json: str | Path) -> dict:
    """Captions of a chunk of real train shards by the configured BLIP-2 (prompts.captioner),
    loaded once; one table for the chunk, in shard order."""
    import pandas as pd

    from synscale.prompts.captioners import caption_shard, load_captioner

    t0 = time.time()
    captioner = load_captioner(cfg)
    parts, infos = [], []
    with tempfile.TemporaryDirectory(prefix="synscale-captions-") as tmp_dir:
        for i, shard in enumerate(shards):
            part = Path(tmp_dir) / f"{i:05d}.parquet"
            infos.append(caption_shard(cfg, shard, part, None, captioner=captioner))
            parts.append(pd.read_parquet(part))
    df = pd.concat(parts, ignore_index=True)
    with atomic_path(out_parquet) as tmp:
        df.to_parquet(tmp, index=False)
    info = {"shards": [str(s) for s in shards], "n": len(df), "per_shard": infos,
            "captioner": captioner.describe(), "files": {Path(out_parquet).name: record(out_parquet)},
            "provenance": provenance(cfg, wall_time_s=time.time() - t0, captioner=captioner.describe())}
    write_json(out_json, info)
    return info


def prompts(job) -> dict:
    return build_prompts(job.config, job.params["prompt"], job.input["classes"], job.input["train"],
                         job.output["table"], job.output["info"])


def captions(job) -> dict:
    return caption_shards(job.config, job.input["shards"], job.output["table"], job.output["info"])
