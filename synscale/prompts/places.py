"""The _places prompt sets: each class prompt placed in Places365 scenes (the 365 category names
ship in ``data/places365_categories.txt``), one scene per prompt from a seeded draw."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from synscale.seeds import seed_for

REPO = Path(__file__).resolve().parents[2]
PLACES_FILE = REPO / "data" / "places365_categories.txt"


N_PLACES = 365


def places365_categories(path: str | Path = PLACES_FILE) -> list[str]:
    """The 365 Places categories in index order ('/a/airfield', ..., '/i/ice_skating_rink/indoor', ...)."""
    path = Path(path)
    try:
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: the Places365 category list is missing; restore "
                                "data/places365_categories.txt from the repository") from None
    cats = [None] * len(lines)
    for parts in lines:
        if len(parts) != 2 or not parts[0].startswith("/") or not parts[1].isdigit() or int(parts[1]) >= len(lines):
            raise ValueError(f"{path}: expected lines like '/a/airfield 0', got {' '.join(parts)!r}")
        cats[int(parts[1])] = parts[0]
    if len(cats) != N_PLACES or any(c is None for c in cats):
        raise ValueError(f"{path}: expected the {N_PLACES} Places365 categories with indices 0..364")
    return cats


def scene_text(category: str) -> str:
    """'/i/ice_skating_rink/indoor' -> 'ice skating rink (indoor)'; '/a/airfield' -> 'airfield'."""
    parts = [p for p in category.strip("/").split("/") if p]
    if len(parts) < 2 or len(parts[0]) != 1:
        raise ValueError(f"{category!r} is not a Places365 category ('/<letter>/<scene>[/<qualifier>]')")
    name = parts[1].replace("_", " ")
    return f"{name} ({' '.join(parts[2:]).replace('_', ' ')})" if len(parts) > 2 else name


def places_table(base: pd.DataFrame, seed: int = 0, per_class: int | None = None,
                 categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Every prompt of ``base`` + ' inside <scene>' for the Places365 scenes: all of them, or
    ``per_class`` scenes drawn per class (seeded by the class id, without replacement)."""
    cats = list(categories) if categories is not None else places365_categories()
    texts = [scene_text(c) for c in cats]
    if per_class is not None and not 1 <= per_class <= len(cats):
        raise ValueError(f"prompts.places_per_class must be in [1, {len(cats)}] or null, got {per_class}")
    rows = []
    for r in base.itertuples(index=False):
        if per_class is None or per_class == len(cats):
            pick = range(len(cats))
        else:
            rng = np.random.default_rng(seed_for(seed, "places365", r.class_id, r.source))
            pick = sorted(rng.choice(len(cats), size=per_class, replace=False).tolist())
        for j in pick:
            rows.append((r.class_index, r.class_id, r.class_name, f"{r.prompt} inside {texts[j]}",
                         f"{r.source}+places365:{cats[j]}"))
    df = pd.DataFrame(rows, columns=list(base.columns))
    df["class_index"] = df["class_index"].astype("int64")
    return df
