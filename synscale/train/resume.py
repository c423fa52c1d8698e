"""Resumable, distributed training shared by the classifier and CLIP: resume checkpoints written
atomically and continued only by the job that wrote them, and the DistributedDataParallel wrapper."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from synscale.io import atomic_path

log = logging.getLogger(__name__)


def load_resume(path: str | os.PathLike | None, identity: dict) -> dict | None:
    """The resume checkpoint at ``path`` if it exists and belongs to this job, else None."""
    if not path or not Path(path).exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a checkpoint cut short is replaced atomically, so this is a foreign file
        log.warning("%s is unreadable (%s); training from the start", path, e)
        return None
    if state.get("identity") != identity:
        log.warning("%s was written by a different job (%s); training from the start", path, state.get("identity"))
        return None
    return state


def restore(path: str | os.PathLike | None, identity: dict, parts: dict, total: int) -> int:
    """Load a resume checkpoint of this job (``load_resume``) into ``parts`` (name -> an object
    with ``load_state_dict``: model, optimizer, scheduler, grad scaler); the step it reached, or 0."""
    state = load_resume(path, identity)
    if state is None:
        return 0
    for name, obj in parts.items():
        obj.load_state_dict(state[name])
    log.info("resumed from %s at step %d of %d", path, state["step"], total)
    return int(state["step"])


def save_resume(path: str | os.PathLike, step: int, identity: dict, parts: dict, **extra) -> None:
    """Write a resume checkpoint atomically: each part's state, the step and the job's identity."""
    with atomic_path(path) as tmp:
        torch.save({**{name: obj.state_dict() for name, obj in parts.items()}, "step": step, "identity": identity,
                    **extra}, tmp)


def distributed(model: torch.nn.Module, world_size: int) -> torch.nn.Module:
    """``model`` wrapped in DistributedDataParallel when there are several processes."""
    if world_size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device = next(model.parameters()).device
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def resume_path(out_ckpt: str | Path) -> Path:
    """Where a training job keeps its resume checkpoint: beside its final output."""
    return Path(str(out_ckpt) + ".resume")
