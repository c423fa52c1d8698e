"""Caption datasets read in blocks: the embedded dataset's shard names, a block's caption table
(key, caption, class index, source shard) and, for an arm at a scale, which source shards and
twin-shard offsets a training job reads."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from synscale.clip.model import block_parts
from synscale.io import read_json

BLOCK_COLUMNS = ["key", "caption", "class_index", "shard"]


def embedded_shards(out_dir: str | Path, n: int, shard_size: int) -> list[str]:
    """The shards of an embedded caption dataset of ``n`` captions (the rule declares the same)."""
    return [str(Path(out_dir) / f"shard-{i:05d}.tar") for i in range(-(-n // shard_size))]


def read_block(path: str) -> "pd.DataFrame":  # noqa: F821
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except Exception as e:
        raise ValueError(f"{path}: unreadable caption table ({e}); rebuild it with "
                         f"snakemake --forcerun {path}") from None
    missing = [c for c in BLOCK_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: caption table lacks {missing}; rebuild it with snakemake --forcerun {path}")
    return df


def train_parts(run: dict, scale: int, blocks: Sequence[str], twins: Sequence[str]):
    """(parts, captions) of an arm at a scale: per source shard of the blocks, the shard and where
    its twins start in the block's twin shard (its manifest's ``source_parts``)."""
    sources = []
    for p in blocks:
        t = read_block(p)
        sources.append(list(t.groupby("shard", sort=False).size().items()))
    syn = list(twins) if run["arm"] != "real" else None
    offsets = None
    if syn is not None:
        if len(syn) != len(sources):
            raise ValueError(f"{run['name']}: {len(syn)} twin shards for {len(sources)} caption blocks")
        offsets = []
        for b, t in enumerate(syn):
            man = read_json(Path(t).with_suffix(".json"))
            got = [(s["source"], s["count"]) for s in man.get("source_parts", [])]
            if got != [(str(s), int(c)) for s, c in sources[b]]:
                raise ValueError(f"{t}: its twins do not follow the captions of {blocks[b]} shard by shard; rebuild it "
                                 f"with snakemake --forcerun {t}")
            offsets.append([s["offset"] for s in man["source_parts"]])
    parts = block_parts(sources, scale, run["arm"] != "syn", syn, offsets)
    return parts, sum(p.take for p in parts)
