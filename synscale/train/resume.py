"""Resumable, distributed training shared by the classifier and CLIP: resume checkpoints written
atomically and continued only by the job that wrote them, and the DistributedDataParallel wrapper.

A resume file that cannot be one of ours (unreadable, cut short, a planted pickle refused by
``weights_only=True``, not a dict, keys missing) is set aside as ``<file>.bad-<UTC time>`` with a
warning naming both paths, and training starts from the start: it never blocks the job's retries."""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from synscale.io import atomic_path, save_tensors

log = logging.getLogger(__name__)


def set_aside(path: str | os.PathLike, why: str, then: str = "training from the start") -> Path | None:
    """Rename a resume file that cannot be continued to ``<path>.bad-<UTC time>`` (kept for a look,
    out of the way of the next attempt) and log both paths; the new path, or None when another
    process of the job moved it first."""
    path = Path(path)
    bad = path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}")
    try:
        os.replace(path, bad)
    except FileNotFoundError:
        return None
    log.warning("%s cannot be continued (%s); set aside as %s; %s", path, why, bad, then)
    return bad


def _foreign(state, parts: Iterable[str]) -> str | None:
    """Why ``state`` is not a resume state save_resume wrote, or None."""
    if not isinstance(state, Mapping):
        return f"a {type(state).__name__}, not a dict"
    missing = [k for k in ("identity", "step", *parts) if k not in state]
    if missing:
        return f"keys missing: {', '.join(missing)}"
    if not isinstance(state["identity"], Mapping):
        return f"'identity' is a {type(state['identity']).__name__}, not a dict"
    step = state["step"]
    if isinstance(step, torch.Tensor) and step.numel() == 1:
        step = step.item()
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return f"'step' is {step!r}, not a count of steps"
    bad_parts = [k for k in parts if not isinstance(state[k], Mapping)]
    if bad_parts:
        return f"not state dicts: {', '.join(bad_parts)}"
    return None


def load_resume(path: str | os.PathLike | None, identity: dict, parts: Iterable[str] = ()) -> dict | None:
    """The resume checkpoint at ``path`` if it exists and belongs to this job, else None.

    It must hold ``identity``, ``step`` and the state dicts named in ``parts``. A file that is not a
    resume state (see the module's doc) is set aside; one written by another job (a different
    identity: recipe, seed, processes) is left where it is, and this run's first resume checkpoint
    replaces it."""
    if not path or not Path(path).exists():
        return None
    parts = tuple(parts)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:  # another process of the job set it aside meanwhile
        return None
    except Exception as e:  # cut short, garbage, or a pickle with code (refused): nothing of ours
        set_aside(path, f"unreadable: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300])
        return None
    why = _foreign(state, parts)
    if why:
        set_aside(path, why)
        return None
    if dict(state["identity"]) != identity:
        log.warning("%s was written by a different job (%s); training from the start", path, state["identity"])
        return None
    return dict(state, step=int(state["step"]))


def cannot_continue(path: str | os.PathLike, why: str):
    """A resume state of this job whose parts do not load: set aside, and this attempt stops with an
    error saying so (the next attempt trains from the start)."""
    bad = set_aside(path, why, then="this attempt stops")
    raise RuntimeError(f"{path}: a resume state of this job that cannot be continued ({why}); set aside as "
                       f"{bad}; run the job again to train from the start")


def restore(path: str | os.PathLike | None, identity: dict, parts: dict, total: int) -> int:
    """Load a resume checkpoint of this job (``load_resume``) into ``parts`` (name -> an object
    with ``load_state_dict``: model, optimizer, scheduler, grad scaler); the step it reached, or 0.

    A state of this job whose parts are missing or do not load is set aside and the attempt fails
    naming it (the job's data loader already started at its step); the next attempt trains from the
    start."""
    state = load_resume(path, identity)
    if state is None:
        return 0
    name = why = None
    try:
        why = _foreign(state, parts)
        if why is None:
            for name, obj in parts.items():
                obj.load_state_dict(state[name])
    except Exception as e:
        why = f"its '{name}' does not load: {type(e).__name__}: {e}"[:300]
    if why:
        cannot_continue(path, why)
    log.info("resumed from %s at step %d of %d", path, state["step"], total)
    return int(state["step"])


def save_resume(path: str | os.PathLike, step: int, identity: dict, parts: dict, **extra) -> None:
    """Write a resume checkpoint atomically: each part's state, the step and the job's identity."""
    with atomic_path(path) as tmp:
        save_tensors({**{name: obj.state_dict() for name, obj in parts.items()}, "step": step, "identity": identity,
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
