"""Helpers every step shares: threads, the class index, reading shards at the configured size."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from synscale.io import read_json


def set_threads(n: int | None) -> None:
    import torch

    torch.set_num_threads(max(1, int(n or 1)))


def load_classes(path: str | Path) -> dict:
    """{'names': [...], 'ids': [...]} from a class index JSON (or a plain JSON list of names)."""
    data = read_json(path)
    if isinstance(data, list):
        data = {"names": data, "ids": [str(i) for i in range(len(data))]}
    if not isinstance(data, dict) or "names" not in data:
        raise ValueError(f"{path}: expected a JSON list of class names or an object with 'names' "
                         "(and optionally 'ids'); see data.class_index in config/schema.yaml")
    data.setdefault("ids", [str(i) for i in range(len(data["names"]))])
    if len(data["ids"]) != len(data["names"]):
        raise ValueError(f"{path}: 'ids' ({len(data['ids'])}) and 'names' ({len(data['names'])}) differ in length")
    return data


def read_images(paths: Sequence[str | Path], cfg: dict, limit: int | None = None):
    """Shards decoded at ``data.image_size`` with ``data.channels``."""
    from synscale.data.shards import read_shards

    return read_shards(list(paths), limit=limit, size=cfg["data"]["image_size"], channels=cfg["data"]["channels"])





def read_output(path: str | Path, cfg: dict) -> dict:
    """A JSON output of this workflow, checked to belong to this configuration's results root
    (``results``): outputs of one configuration are never taken for another's."""
    data = read_json(path)
    made_for = (data.get("provenance") or {}).get("results") if isinstance(data, dict) else None
    if made_for != cfg["results"]:
        raise ValueError(f"{path}: written for results root {made_for!r}, but this configuration's is "
                         f"{cfg['results']!r} (config key 'results'); rebuild it with "
                         f"snakemake --forcerun {path}")
    return data
