"""Training recipes derived from the configuration, torch-free (the workflow sizes SLURM requests
with them while it parses, and the config checks build them before any job):

- the classifier's (the paper's Table A1): iterations and warm-up at a data scale D (linear in
  log D), how the global batch splits over processes and accumulation steps, timm's model kwargs;
  the torch objects (optimizer, schedule, Mixup, loss) are built from it in ``synscale.train.optim``;
- CLIP's (Table A3): the S or L recipe picked by caption scale.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass


def iterations(scale: int, schedule: dict) -> tuple[int, int]:
    """(iterations, warm-up) at data scale D, growing linearly in log D as in the paper
    (95k iterations / 10k warm-up at 1M, +95k / +10k per doubling), floored at a minimum."""
    doublings = math.log2(scale / schedule["base_scale"])
    iters = schedule["base_iters"] + schedule["iters_per_doubling"] * doublings
    iters = max(schedule["min_iters"], int(round(iters)))
    warm = schedule["base_warmup"] + schedule["warmup_per_doubling"] * doublings
    warm = int(round(min(max(warm, iters * 0.05), iters * 0.5)))
    return iters, warm



VIT_DROPOUT_KWARGS = ("drop_rate", "pos_drop_rate", "proj_drop_rate")


@dataclass(frozen=True)
class Recipe:
    iters: int
    warmup: int
    global_batch: int
    world: int
    micro_batch: int  # images per process per forward pass
    accum: int  # forward/backward passes per optimizer step and process
    lr: float
    weight_decay: float
    optimizer: str
    betas: tuple[float, float]
    eps: float
    warmup_lr: float
    min_lr: float
    loss: str
    label_smoothing: float
    mixup: float
    input_size: int
    augment: dict | None

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def split_batch(global_batch: int, world: int, max_micro: int) -> tuple[int, int]:
    """(micro batch, accumulation steps) with micro * accum * world == global_batch and
    micro <= max_micro."""
    if global_batch % world:
        raise ValueError(f"classifier.batch_size={global_batch} must be divisible by the {world} processes "
                         "(classifier.nodes x classifier.gpus)")
    per = global_batch // world
    accum = -(-per // max_micro)
    while per % accum:
        accum += 1
    return per // accum, accum


def world_size(cc: dict) -> int:
    return cc["nodes"] * cc["gpus"]


def build(cc: dict, scale: int | None = None, iters: int | None = None, warmup: int | None = None) -> Recipe:
    """The recipe of a training job at data scale ``scale`` (iterations from ``cc['schedule']``),
    or with explicit ``iters`` / ``warmup`` (the reference classifier)."""
    if iters is None:
        iters, warmup = iterations(scale, cc["schedule"])
    world = world_size(cc)
    micro, accum = split_batch(cc["batch_size"], world, cc["max_device_batch"])
    opt = cc["optimizer"]
    if cc["mixup"] and micro % 2:
        raise ValueError(f"classifier.mixup needs an even per-process batch; got {micro} "
                         "(classifier.batch_size / processes / accumulation)")
    return Recipe(iters=int(iters), warmup=int(warmup or 0), global_batch=cc["batch_size"], world=world,
                  micro_batch=micro, accum=accum, lr=cc["lr"], weight_decay=cc["weight_decay"],
                  optimizer=opt["name"], betas=tuple(opt["betas"]), eps=opt["eps"], warmup_lr=cc["warmup_lr"],
                  min_lr=cc["min_lr"], loss=cc["loss"], label_smoothing=cc["label_smoothing"], mixup=cc["mixup"],
                  input_size=cc["input_size"], augment=cc["augment"])


def model_kwargs(arch: str, cc: dict) -> dict:
    """timm kwargs of the classifier: the config's ``kwargs`` plus Table A1's dropout and stochastic
    depth. In timm's ViTs ``drop_rate`` only drops before the head; the original ViT's dropout
    also acts after the patch embedding and in every attention / MLP projection, so for ViTs
    ``dropout`` sets all three."""
    kw = dict(cc.get("kwargs") or {})
    if cc.get("dropout"):
        keys = VIT_DROPOUT_KWARGS if arch.startswith(("vit_", "deit")) else ("drop_rate",)
        for k in keys:
            kw.setdefault(k, cc["dropout"])
    if cc.get("drop_path"):
        kw.setdefault("drop_path_rate", cc["drop_path"])
    return kw


# --------------------------------------------------------------------------- CLIP (Table A3)


@dataclass(frozen=True)
class ClipRecipe:
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


def pick_recipe(train: dict, scale: int, captions: int | None = None) -> ClipRecipe:
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
    return ClipRecipe(chosen["name"], batch, float(chosen["lr"]), float(chosen["weight_decay"]),
                  tuple(map(float, chosen["betas"])), float(chosen["eps"]),
                  min(warmup_at(chosen["warmup"], scale), steps - 1) if steps > 1 else 0,
                  int(train["epochs"]), steps, world, micro)
