"""Image classifiers built with timm: the scaling runs and the reference classifier.

The same code trains a tiny ViT on 16x16 digits and ViT-B/16 on ImageNet-sized images; only the
``arch``/``kwargs`` of the config differ.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from synscale.io import atomic_path, save_tensors
from synscale.train.losslog import open_log
from synscale.train.preempt import agreed, checkpoint_and_exit, stop_on_signals
from synscale.train.resume import distributed, restore, save_resume

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
    """uint8 N x H x W x C -> float N x C x H x W in [-1, 1] (the loaders' normalisation)."""
    x = torch.as_tensor(images)
    return x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def _step_seed(seed: int, rank: int, step: int) -> int:
    from synscale.seeds import seed_for

    return seed_for(seed, "dropout", rank, step) & 0x7FFFFFFF


def resume_identity(recipe, seed: int, world_size: int) -> dict:
    """What a resume checkpoint must match to be continued: the same iterations, seed and split
    of the global batch (the data position is counted in micro-batches per rank)."""
    return {"iters": recipe.iters, "seed": seed, "world": world_size, "accum": recipe.accum,
            "micro": recipe.micro_batch}


def train_loop(model: torch.nn.Module, batches: Iterable, recipe, num_classes: int, seed: int,
               amp_dtype: torch.dtype = torch.float32, resume_path: str | os.PathLike | None = None,
               checkpoint_every: int = 0, progress: Callable[[int, float], None] | None = None,
               rank: int = 0, world_size: int = 1, on_checkpoint: Callable[[int], None] | None = None) -> dict:
    """Train ``model`` (already on its device) for ``recipe.iters`` optimizer steps.

    ``batches`` yields this rank's micro-batches ``(x, y)`` (x normalised, y class indices), from
    a ``synscale.loader`` stream positioned at the resume point. Each step runs ``recipe.accum``
    micro-batches per process (gradients accumulate locally and are averaged across the
    ``world_size`` processes by DistributedDataParallel on the last), so the global batch is
    ``micro_batch * accum * world_size`` whatever the GPU count. timm builds the optimizer, the
    cosine schedule, Mixup and the loss (``synscale.recipe``).

    Every ``checkpoint_every`` steps rank 0 writes ``resume_path`` atomically: model, optimizer,
    scheduler and grad-scaler state and the step (the data position is step * accum micro-batches
    per rank). Dropout and Mixup draw from generators seeded per (rank, step), so a resumed run
    continues exactly as an uninterrupted one. With a ``resume_path``, SIGUSR1 or SIGTERM ends the
    loop after the current step with that checkpoint written (``synscale.train.preempt``: exit status
    75), and the loss and learning rate go to ``<output>.loss.csv`` as training goes
    (``synscale.train.losslog``).
    """
    from synscale.device import autocast
    from synscale.train import optim as R

    device = next(model.parameters()).device
    r = recipe
    opt = R.optimizer(model, r)
    sched = R.scheduler(opt, r)
    mix = R.mixup(r, num_classes)
    crit = R.loss_fn(r)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp_dtype == torch.float16)
    identity = resume_identity(r, seed, world_size)
    parts = {"model": model, "opt": opt, "sched": sched, "scaler": scaler}
    start = restore(resume_path, identity, parts, r.iters)
    net = distributed(model, world_size)
    model.train()
    losses = []
    t0 = time.time()
    images = 0
    with stop_on_signals(bool(resume_path)) as flag, open_log(resume_path, start, r.iters, rank) as curve:
        it = iter(batches)  # after the handlers: loader workers started now inherit them
        for step in range(start, r.iters):
            sched.step_update(step)
            opt.zero_grad(set_to_none=True)
            total = torch.zeros((), device=device)
            for a in range(r.accum):
                x, y = next(it)
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                torch.manual_seed(_step_seed(seed, rank, step * r.accum + a))
                if mix is not None:
                    np.random.seed(_step_seed(seed + 1, rank, step * r.accum + a))
                    x, y = mix(x, y)
                sync = world_size == 1 or a == r.accum - 1
                ctx = contextlib.nullcontext() if sync else net.no_sync()
                with ctx:
                    with autocast(device, amp_dtype):
                        loss = crit(net(x), y) / r.accum
                    scaler.scale(loss).backward()
                total += loss.detach()
                images += len(x)
            scaler.step(opt)
            scaler.update()
            if world_size > 1:  # report the global batch's loss, not this rank's part
                import torch.distributed as dist

                dist.all_reduce(total)
                total = total / world_size
            losses.append(total.item())
            if progress:
                progress(step, losses[-1])
            done = step + 1
            curve(done, losses[-1], opt.param_groups[0]["lr"])
            if done == r.iters or not resume_path:
                continue
            save = partial(save_resume, resume_path, done, identity, parts,
                           data={"micro_batches_per_rank": done * r.accum})
            if agreed(flag, world_size, device):
                checkpoint_and_exit(flag, done, r.iters, save, resume_path, rank, world_size)
            if rank == 0 and checkpoint_every and done % checkpoint_every == 0:
                save()
                if on_checkpoint:
                    on_checkpoint(done)
    model.eval()
    seconds = time.time() - t0
    return {"iters": r.iters, "warmup": r.warmup, "resumed_from": start, "processes": world_size,
            "accumulation": r.accum, "micro_batch": r.micro_batch, "global_batch": r.global_batch,
            "final_train_loss": float(np.mean(losses[-50:])) if losses else None,
            "train_seconds": round(seconds, 2), "images_per_second": round(images * world_size / max(seconds, 1e-9), 1)}


@torch.no_grad()
def predict(model: torch.nn.Module, batches: Iterable, amp_dtype: torch.dtype = torch.float32,
            features: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(logits, labels, pre-logit features or None) over a loader's batches, on the model's device."""
    from synscale.device import autocast

    model.eval()
    device = next(model.parameters()).device
    lg, ys, fs = [], [], []
    for x, y in batches:
        x = x.to(device, non_blocking=True)
        with autocast(device, amp_dtype):
            if features:
                f = model.forward_head(model.forward_features(x), pre_logits=True)
                out = model.get_classifier()(f)
                fs.append(f.float().cpu())
            else:
                out = model(x)
        lg.append(out.float().cpu())
        ys.append(torch.as_tensor(y))
    return torch.cat(lg), torch.cat(ys), (torch.cat(fs) if features else None)


@torch.no_grad()
def logits(model: torch.nn.Module, images: np.ndarray, batch_size: int = 512) -> torch.Tensor:
    """Logits of in-memory uint8 images (N x H x W x C)."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(to_input(images[i:i + batch_size]).to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


def scores(lg: torch.Tensor, y: torch.Tensor, num_classes: int, class_subset: list[int] | None = None) -> dict:
    """Cross-entropy loss and top-1, overall and per class. With ``class_subset`` (a set that
    covers only those classes, like ImageNet-A/R), the other classes' logits are masked out before
    the softmax and the arg-max."""
    y = torch.as_tensor(y, dtype=torch.long)
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


def evaluate(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, num_classes: int,
             batch_size: int = 512, class_subset: list[int] | None = None) -> dict:
    """``scores`` of in-memory images."""
    return scores(logits(model, images, batch_size), torch.as_tensor(labels), num_classes, class_subset)


def save_checkpoint(model: torch.nn.Module, path: str | os.PathLike, meta: dict) -> None:
    with atomic_path(path) as tmp:
        save_tensors({"model": model.state_dict(), "meta": meta}, tmp)


def load_checkpoint(path: str | os.PathLike, arch: str, num_classes: int, in_chans: int,
                    kwargs: dict | None = None, key: str = "checkpoint") -> torch.nn.Module:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{key} = {str(path)!r}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
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
