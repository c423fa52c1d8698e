"""Class-specific prompt sets and the per-image prompt choice of generation.

A prompt table has one row per prompt: class_index, class_id, class_name, prompt, source.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .config import PROMPT_SETS, seed_for

COLUMNS = ["class_index", "class_id", "class_name", "prompt", "source"]


def clip_templates(which: str) -> list[str]:
    """The CLIP zero-shot templates shipped by open_clip, as format strings with '{}'."""
    import open_clip

    fns = {"clip7": open_clip.SIMPLE_IMAGENET_TEMPLATES, "clip80": open_clip.OPENAI_IMAGENET_TEMPLATES}[which]
    return [f("{}") for f in fns]


def _table(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["class_index"] = df["class_index"].astype("int64")
    return df


def classname_table(class_names: Sequence[str], class_ids: Sequence[str]) -> pd.DataFrame:
    return _table([(i, cid, n, n, "classname") for i, (cid, n) in enumerate(zip(class_ids, class_names))])


def template_table(which: str, class_names: Sequence[str], class_ids: Sequence[str]) -> pd.DataFrame:
    temps = clip_templates(which)
    return _table([(i, cid, n, t.format(n), f"{which}:{j}")
                   for i, (cid, n) in enumerate(zip(class_ids, class_names)) for j, t in enumerate(temps)])


def incap_table(class_names: Sequence[str], class_ids: Sequence[str], labels: Sequence[int],
                captions: Sequence[str], keys: Sequence[str], captioner: str) -> pd.DataFrame:
    """'classname, caption' for each captioned real training image."""
    rows = [(int(lab), class_ids[int(lab)], class_names[int(lab)], f"{class_names[int(lab)]}, {cap}",
             f"{captioner}:{key}") for lab, cap, key in zip(labels, captions, keys)]
    df = _table(rows)
    return df.sort_values(["class_index", "source"], kind="stable").reset_index(drop=True)


def build_table(prompt_set: str, class_names: Sequence[str], class_ids: Sequence[str], **kw) -> pd.DataFrame:
    if prompt_set == "classname":
        return classname_table(class_names, class_ids)
    if prompt_set in ("clip7", "clip80"):
        return template_table(prompt_set, class_names, class_ids)
    if prompt_set == "incap":
        return incap_table(class_names, class_ids, kw["labels"], kw["captions"], kw["keys"], kw["captioner"])
    if prompt_set in PROMPT_SETS:
        raise NotImplementedError(
            f"prompt set {prompt_set!r} needs WordNet glosses/hypernyms, Places365 scenes or a seq2seq model, "
            "which this version of synscale does not build; use classname, clip7, clip80 or incap")
    raise ValueError(f"unknown prompt set {prompt_set!r}; known: {', '.join(PROMPT_SETS)}")


def check_table(df: pd.DataFrame, n_classes: int, path: str = "<table>") -> None:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: prompt table lacks columns {missing}; rebuild it with snakemake")
    have = set(df["class_index"].unique())
    lack = sorted(set(range(n_classes)) - have)
    if lack:
        raise ValueError(f"{path}: no prompts for classes {lack[:10]}; rebuild the prompt table")


def pick_prompts(df: pd.DataFrame, labels: np.ndarray, seed: int, config: str, shard: int | str) -> list[str]:
    """One prompt per image, uniformly among its class's prompts: a pure function of
    (table, labels, seed, config, shard)."""
    rng = np.random.default_rng(seed_for(seed, config, shard, "prompts"))
    by_class = {c: g["prompt"].tolist() for c, g in df.groupby("class_index", sort=True)}
    u = rng.random(len(labels))
    out = []
    for lab, x in zip(labels, u):
        pool = by_class[int(lab)]
        out.append(pool[int(x * len(pool))])
    return out
