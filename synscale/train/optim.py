"""The classifier's torch objects from its recipe (``synscale.config.recipes.Recipe``), through timm:
optimizer, cosine schedule with warm-up, Mixup and loss."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from synscale.config.recipes import Recipe


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
