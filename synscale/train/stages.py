"""Training in stages that a signal can stop at any step of any stage, and that its retry resumes
there: the embedded default's tiny T2I models (a VAE, then a UNet; stage I, then stage II; a VQ
tokenizer, then a transformer).

``Stages`` is what their training loops report to (``synscale.t2i.tiny.NoStages`` names the
methods). Inside ``synscale.train.preempt.stop_on_signals``, a signal makes the loop stop after the
step it is in: the resume checkpoint (``<model dir>.resume``, written atomically, loaded with
``weights_only=True``) holds every module's weights, the stage and step reached, that stage's
optimizer and EMA states, its generator, torch's global random state and the loop's own state
(losses so far and the like), the statistics of the stages done, and the job's identity (model,
seed, training config); the job exits with status 75. The retry loads the modules' weights, skips
the stages done (their statistics kept) and continues the stage it stopped in from its step: it
ends with the weights of a run never interrupted. The loss of every step goes to
``<model dir>.loss.csv`` (``synscale.train.losslog``), steps numbered across the stages.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import torch

from synscale.io import atomic_path, save_tensors
from synscale.train.losslog import NoLog, open_log
from synscale.train.preempt import StopFlag, checkpoint_and_exit
from synscale.train.resume import cannot_continue, load_resume

log = logging.getLogger(__name__)

PARTS = ("modules", "parts", "state", "finished")


class Stages:
    """The stages ``plan`` ((name, steps), in order) of a training whose resume checkpoint is
    ``resume_path`` and whose identity is ``identity``; ``flag``: the signal flag of
    ``stop_on_signals`` (None: never stops). Use as a context manager (it keeps the loss CSV open)."""

    def __init__(self, resume_path: str | os.PathLike, identity: dict, plan: Sequence[tuple[str, int]],
                 flag: StopFlag | None = None):
        self.path, self.identity, self.flag = Path(resume_path), identity, flag
        self.offset: dict[str, int] = {}
        total = 0
        for name, steps in plan:
            self.offset[name] = total
            total += int(steps)
        self.total = total
        self.saved = load_resume(self.path, identity, PARTS)
        self.start = self.saved["step"] if self.saved else 0
        self.finished: dict[str, dict] = {}
        self.modules: dict[str, torch.nn.Module] = {}
        self.current: tuple | None = None
        self.curve = NoLog()

    def __enter__(self):
        self.curve = open_log(self.path, self.start, self.total)
        return self

    def __exit__(self, *exc):
        self.curve.close()

    def attach(self, modules: dict[str, torch.nn.Module]) -> None:
        """The modules the checkpoint holds (every trained module of the model); where the job
        resumes, their weights are loaded now."""
        self.modules = dict(modules)
        if not self.saved:
            return
        try:
            for name, m in self.modules.items():
                m.load_state_dict(self.saved["modules"][name])
        except Exception as e:
            cannot_continue(self.path, f"module {name!r} does not load: {type(e).__name__}: {e}"[:300])
        self.finished = {k: dict(v) for k, v in self.saved["finished"].items()}
        log.info("resumed from %s at step %d of %d (stage %s, step %d)", self.path, self.start, self.total,
                 self.saved["stage"], self.saved["stage_step"])

    def skip(self, stage: str) -> dict | None:
        """The statistics of ``stage`` if the job finished it before it was stopped."""
        return self.finished.get(stage)

    def begin(self, stage: str, parts: dict, generator: torch.Generator, state: dict) -> int:
        """The step ``stage`` starts at; where the job stopped in it, ``parts``, ``generator``,
        torch's global random state and ``state`` (updated in place) are those it stopped with."""
        start = 0
        if self.saved and self.saved["stage"] == stage:
            saved, self.saved = self.saved, None
            try:
                for name, obj in parts.items():
                    obj.load_state_dict(saved["parts"][name])
                generator.set_state(saved["generator"])
                torch.set_rng_state(saved["torch_rng"])
            except Exception as e:
                cannot_continue(self.path, f"stage {stage!r} does not load: {type(e).__name__}: {e}"[:300])
            state.update(saved["state"])
            start = int(saved["stage_step"])
        self.current = (stage, parts, generator, state)
        return start

    def step(self, stage: str, step: int, loss: float, lr: float) -> None:
        """After step ``step`` (0-based) of ``stage``: its loss row; on a signal, the resume
        checkpoint and ``Preempted``."""
        done = self.offset[stage] + step + 1
        self.curve(done, loss, lr)
        if self.flag is not None and self.flag.signum is not None:
            checkpoint_and_exit(self.flag, done, self.total, lambda: self._save(stage, step + 1), self.path)

    def finish(self, stage: str, stats: dict) -> None:
        self.finished[stage] = dict(stats)
        self.current = None

    def _save(self, stage: str, stage_step: int) -> None:
        _, parts, generator, state = self.current
        with atomic_path(self.path) as tmp:
            save_tensors({"identity": self.identity, "step": self.offset[stage] + stage_step, "stage": stage,
                        "stage_step": stage_step, "modules": {n: m.state_dict() for n, m in self.modules.items()},
                        "parts": {n: p.state_dict() for n, p in parts.items()}, "generator": generator.get_state(),
                        "torch_rng": torch.get_rng_state(), "state": dict(state), "finished": self.finished}, tmp)
