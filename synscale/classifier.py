"""Image classifiers built with timm: the scaling runs and the reference classifier.

The same code trains a tiny ViT on 16x16 digits and ViT-B/16 on ImageNet-sized images; only the
``arch``/``kwargs`` of the config differ.
"""
from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .io import atomic_path

log = logging.getLogger(__name__)


def build_model(arch: str, num_classes: int, in_chans: int, kwargs: dict | None = None,
                seed: int | None = None) -> torch.nn.Module:
    """A timm model with random weights (seeded when ``seed`` is given); never downloads weights."""
    import timm

    kw = dict(kwargs or {})
    if seed is not None:
        torch.manual_seed(seed)
    try:
        return timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kw)
    except RuntimeError as e:
        raise ValueError(f"classifier arch {arch!r}: timm cannot build it ({e}); see timm.list_models()") from None


def to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 N x H x W x C -> float N x C x H x W in [-1, 1]."""
    x = torch.as_tensor(images)
    return x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def random_shift(x: torch.Tensor, g: torch.Generator, max_shift: int) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels per image (background padding)."""
    if max_shift <= 0:
        return x
    n, c, h, w = x.shape
    m = max_shift
    pad = F.pad(x, (m, m, m, m), value=-1.0)
    dy = torch.randint(0, 2 * m + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * m + 1, (n,), generator=g)
    rows = (dy[:, None] + torch.arange(h)[None]).view(n, 1, h, 1).expand(n, c, h, w + 2 * m)
    out = torch.gather(pad, 2, rows)
    cols = (dx[:, None] + torch.arange(w)[None]).view(n, 1, 1, w).expand(n, c, h, w)
    return torch.gather(out, 3, cols)


def lr_at(step: int, iters: int, warmup: int, lr: float) -> float:
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, iters - warmup)
    return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def train(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, iters: int, warmup: int,
          batch_size: int, lr: float, weight_decay: float, seed: int, label_smoothing: float = 0.0,
          augment: bool = True, resume_path: str | os.PathLike | None = None, checkpoint_every: int = 0,
          progress: Callable[[int, float], None] | None = None, rank: int = 0, world_size: int = 1) -> dict:
    """Train with AdamW + warm-up + cosine decay; resumable from ``resume_path``.

    Data parallel when ``world_size > 1`` (torch.distributed already initialised): every rank draws
    the same global batch and augmentation from the shared seed and trains on its slice
    ``[rank * B/N, (rank + 1) * B/N)``; DistributedDataParallel averages the gradients, so N
    processes follow the single-process trajectory up to floating-point reduction order.
    """
    if batch_size % world_size:
        raise ValueError(f"classifier.batch_size={batch_size} must be divisible by the {world_size} processes")
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x_all = torch.as_tensor(images)
    y_all = torch.as_tensor(labels, dtype=torch.long)
    n = len(y_all)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(("pos_embed", "cls_token")) else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.999))
    start = 0
    if resume_path and Path(resume_path).exists():
        state = torch.load(resume_path, map_location="cpu", weights_only=False)
        if state.get("iters") == iters and state.get("seed") == seed:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            g.set_state(state["rng"])
            torch.set_rng_state(state["torch_rng"])
            start = state["step"]
            log.info("resumed from %s at step %d", resume_path, start)
    net = model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    per = batch_size // world_size
    lo, hi = rank * per, (rank + 1) * per
    max_shift = max(1, images.shape[1] // 8) if augment else 0
    model.train()
    losses = []
    t0 = time.time()
    for step in range(start, iters):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, iters, warmup, lr)
        idx = torch.randint(0, n, (batch_size,), generator=g)
        x = to_input(x_all[idx])
        if augment:
            x = random_shift(x, g, max_shift)
        y = y_all[idx]
        loss = F.cross_entropy(net(x[lo:hi].to(device)), y[lo:hi].to(device), label_smoothing=label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.detach()
        if world_size > 1:  # report the global batch's loss, not this rank's slice
            import torch.distributed as dist

            dist.all_reduce(value)
            value = value / world_size
        losses.append(value.item())
        if progress:
            progress(step, losses[-1])
        if (rank == 0 and resume_path and checkpoint_every and (step + 1) % checkpoint_every == 0
                and step + 1 < iters):
            with atomic_path(resume_path) as tmp:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "rng": g.get_state(),
                            "torch_rng": torch.get_rng_state(), "step": step + 1, "iters": iters,
                            "seed": seed}, tmp)
    model.eval()
    if resume_path and rank == 0:
        Path(resume_path).unlink(missing_ok=True)
    return {"iters": iters, "warmup": warmup, "resumed_from": start, "processes": world_size,
            "final_train_loss": float(np.mean(losses[-50:])) if losses else None,
            "train_seconds": round(time.time() - t0, 2)}


@torch.no_grad()
def logits(model: torch.nn.Module, images: np.ndarray, batch_size: int = 512) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(to_input(images[i:i + batch_size]).to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def features(model: torch.nn.Module, images: np.ndarray, batch_size: int = 512) -> torch.Tensor:
    """Pre-logit features (timm's forward_head(pre_logits=True))."""
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        device = next(model.parameters()).device
        f = model.forward_features(to_input(images[i:i + batch_size]).to(device))
        out.append(model.forward_head(f, pre_logits=True).cpu())
    return torch.cat(out)


def evaluate(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, num_classes: int,
             batch_size: int = 512, class_subset: list[int] | None = None) -> dict:
    """Cross-entropy loss and top-1, overall and per class. With ``class_subset`` (a set that
    covers only those classes, like ImageNet-A/R), the other classes' logits are masked out before
    the softmax and the arg-max."""
    lg = logits(model, images, batch_size)
    y = torch.as_tensor(labels, dtype=torch.long)
    if class_subset is not None:
        outside = sorted(set(y.tolist()) - set(class_subset))
        if outside:
            raise ValueError(f"labels {outside[:5]} are outside the set's class subset")
        keep = torch.zeros(lg.shape[1], dtype=torch.bool)
        keep[list(class_subset)] = True
        lg = lg.masked_fill(~keep, float("-inf"))
    per = F.cross_entropy(lg, y, reduction="none")
    correct = (lg.argmax(1) == y).float()
    pc_loss, pc_top1 = [], []
    for c in range(num_classes):
        m = y == c
        pc_loss.append(float(per[m].mean()) if m.any() else None)
        pc_top1.append(float(correct[m].mean()) if m.any() else None)
    return {"n": int(len(y)), "loss": float(per.mean()), "top1": float(correct.mean()),
            "per_class_loss": pc_loss, "per_class_top1": pc_top1}


def save_checkpoint(model: torch.nn.Module, path: str | os.PathLike, meta: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "meta": meta}, tmp)


def load_checkpoint(path: str | os.PathLike, arch: str, num_classes: int, in_chans: int,
                    kwargs: dict | None = None, key: str = "checkpoint") -> torch.nn.Module:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{key} = {str(path)!r}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise ValueError(f"{path}: unreadable checkpoint ({e}); delete it and re-run snakemake") from None
    model = build_model(arch, num_classes, in_chans, kwargs)
    sd = state["model"] if isinstance(state, dict) and "model" in state else state
    try:
        model.load_state_dict(sd)
    except RuntimeError as e:
        raise ValueError(f"{path}: weights do not fit arch {arch!r} with {num_classes} classes ({e})") from None
    model.eval()
    return model
