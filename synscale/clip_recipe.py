"""Table A3's CLIP recipes picked by caption scale (the S recipe below 100M captions, L from 100M on
in config/paper.yaml). Torch-free: the workflow sizes its SLURM requests with it while it parses."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Recipe:
    name: str
    batch_size: int
    lr: float
    weight_decay: float
    betas: tuple[float, float]
    eps: float
    warmup: int
    epochs: int
    steps: int
    world: int
    micro_batch: int

    def as_dict(self) -> dict:
        return asdict(self)


def warmup_at(warmup, scale: int) -> int:
    """A recipe's warm-up at ``scale``: an int, or ``[[from_scale, steps], ...]`` (the last entry
    whose from_scale is at most the scale; the first below them all)."""
    if isinstance(warmup, int):
        return warmup
    pairs = sorted((int(s), int(w)) for s, w in warmup)
    out = pairs[0][1]
    for s, w in pairs:
        if s <= scale:
            out = w
    return out


def pick_recipe(train: dict, scale: int, captions: int | None = None) -> Recipe:
    """The recipe of ``clip.train`` at ``scale`` captions (``captions``: how many the data holds,
    if fewer); steps = ceil(epochs x captions / batch)."""
    recipes = sorted(train["recipes"], key=lambda r: r["from_scale"])
    chosen = recipes[0]
    for r in recipes:
        if r["from_scale"] <= scale:
            chosen = r
    world = train["nodes"] * train["gpus"]
    batch = int(chosen["batch_size"])
    if batch % world:
        raise ValueError(f"config key 'clip.train.recipes' ({chosen['name']}): batch {batch} does not split over "
                         f"clip.train.nodes x gpus = {world} processes")
    micro = batch // world
    if micro > train["max_device_batch"]:
        raise ValueError(f"config key 'clip.train.max_device_batch' = {train['max_device_batch']}: recipe "
                         f"{chosen['name']} puts {micro} images on each of {world} processes (the contrastive batch "
                         "is not split into accumulation steps); use more GPUs (clip.train.nodes / gpus) or raise it")
    n = captions if captions is not None else scale
    steps = max(1, math.ceil(train["epochs"] * n / batch))
    return Recipe(chosen["name"], batch, float(chosen["lr"]), float(chosen["weight_decay"]),
                  tuple(map(float, chosen["betas"])), float(chosen["eps"]),
                  min(warmup_at(chosen["warmup"], scale), steps - 1) if steps > 1 else 0,
                  int(train["epochs"]), steps, world, micro)
