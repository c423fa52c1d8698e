"""The classifier training recipe (the paper's Table A1), built from the config through timm.

One ``Recipe`` per training job: the iteration count and warm-up at its data scale, how the global
batch splits over processes and accumulation steps, and factories for timm's optimizer, cosine
schedule, Mixup and loss. The embedded default goes through the same code with miniature values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import config as C

if TYPE_CHECKING:
    import torch

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
        iters, warmup = C.iterations(scale, cc["schedule"])
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


def optimizer(model: torch.nn.Module, r: Recipe) -> torch.optim.Optimizer:
    """timm's optimizer factory: no weight decay on biases, norms and ViT position / class tokens."""
    from timm.optim import create_optimizer_v2

    return create_optimizer_v2(model, opt=r.optimizer, lr=r.lr, weight_decay=r.weight_decay, betas=r.betas,
                               eps=r.eps)


def scheduler(opt: torch.optim.Optimizer, r: Recipe):
    """Linear warm-up for ``warmup`` iterations, then cosine decay to ``min_lr`` at ``iters``;
    stepped per iteration (``step_update``)."""
    from timm.scheduler import CosineLRScheduler

    return CosineLRScheduler(opt, t_initial=max(1, r.iters - r.warmup), lr_min=r.min_lr, warmup_t=r.warmup,
                             warmup_lr_init=r.warmup_lr, warmup_prefix=True, t_in_epochs=False)


def mixup(r: Recipe, num_classes: int):
    """timm's Mixup with Beta(alpha, alpha) mixing (alpha = ``mixup``), applied to every batch;
    None when ``mixup`` is 0. Its targets are soft one-hot vectors."""
    if not r.mixup:
        return None
    from timm.data import Mixup

    return Mixup(mixup_alpha=r.mixup, cutmix_alpha=0.0, prob=1.0, mode="batch",
                 label_smoothing=r.label_smoothing, num_classes=num_classes)


def loss_fn(r: Recipe):
    """``bce``: timm's BinaryCrossEntropy (a sigmoid per class against the (mixed) one-hot target,
    as in Table A1); ``ce``: softmax cross-entropy. Both take class indices or soft targets."""
    import torch
    from timm.loss import BinaryCrossEntropy, SoftTargetCrossEntropy

    if r.loss == "bce":
        return BinaryCrossEntropy(smoothing=0.0 if r.mixup else r.label_smoothing)
    if r.mixup:
        return SoftTargetCrossEntropy()
    return torch.nn.CrossEntropyLoss(label_smoothing=r.label_smoothing)
