"""What every sampler shares: the local-directory check, the sampler interface (called like a
diffusers pipeline, returning N x H x W x 3 floats in [0, 1]) and the record of what it sampled
with (``Sampler.describe``), for the shard manifests. The families' samplers: ``synscale.t2i.samplers``
(Stable Diffusion, IF, aMUSEd) and ``synscale.t2i.modern`` (today's diffusers pipelines)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

# the sampling arguments of a pipeline call a sampler records (``Sampler.describe``), as JSON types
RECORDED_ARGS = {"guidance_scale": float, "num_inference_steps": int, "noise_level": int, "height": int, "width": int,
                 "denoising_start": float, "denoising_end": float}
class MissingWeightsError(FileNotFoundError):
    pass


def check_model_dir(path: str | os.PathLike, key: str) -> Path:
    """Fail with a message naming the config key when a local pipeline directory is missing."""
    p = Path(path)
    if not (p / "model_index.json").is_file():
        raise MissingWeightsError(
            f"{key} = {str(path)!r}: no diffusers pipeline there (model_index.json missing). "
            "Point this key at a local directory saved with save_pretrained (e.g. a local copy of "
            "the model's weights); synscale never downloads weights at run time."
        )
    return p


@dataclass
class Output:
    images: np.ndarray


def scheduler_record(scheduler) -> dict:
    """A diffusers scheduler's class and its config as plain JSON (``ConfigMixin.to_json_string``)."""
    cfg = json.loads(scheduler.to_json_string())
    return {"class": cfg.pop("_class_name", type(scheduler).__name__), "config": cfg}


class Sampler:
    family = ""
    guidance_schedule = "constant"

    def __init__(self, *pipes):
        self.pipes = list(pipes)
        self.last_guidance_scales: list[float] | None = None
        self.last_resolution: list[int] | None = None
        self.last_calls: list[dict] | None = None
        self.batch_index: int | None = None   # of the batch being sampled, where the job was planned

    def to(self, device=None, dtype=None):
        for p in self.pipes:
            p.to(device=device, dtype=dtype)
        return self

    @property
    def device(self) -> torch.device:
        return self.pipes[0].device

    def plan_prompts(self, prompts: list, batch_size: int) -> None:
        """Told a job's prompts and batch size before its batches (``synscale.t2i.generate.sample_images``):
        a sampler that caches text embeddings plans them here."""

    def __call__(self, prompt, guidance_scale, num_inference_steps, generator, output_type="np",
                 batch_index: int | None = None) -> Output:
        self.last_calls = []
        self.batch_index = batch_index
        out = self._sample(list(prompt), float(guidance_scale), int(num_inference_steps), generator)
        self.last_resolution = [int(out.images.shape[1]), int(out.images.shape[2])]
        return out

    def _sample(self, prompt: list, guidance: float, steps: int, generator) -> Output:
        raise NotImplementedError

    def _call(self, pipe, **kw):
        """``pipe(**kw)``, recording the sampling arguments the pipeline receives."""
        self.last_calls.append({"pipeline": type(pipe).__name__,
                                **{k: RECORDED_ARGS[k](kw[k]) for k in RECORDED_ARGS if k in kw}})
        return pipe(**kw)

    def describe(self) -> dict:
        """What the sampler samples with: each pipeline's class with its scheduler's class and
        config, the guidance schedule, diffusers' guidance_scale of every step of the last call (of
        its first pipeline), the arguments each pipeline call received and the resolution (height,
        width) that call sampled."""
        return {"pipelines": [{"class": type(p).__name__, "scheduler": scheduler_record(p.scheduler)}
                              for p in self.pipes],
                "guidance_schedule": self.guidance_schedule, "guidance_scale_per_step": self.last_guidance_scales,
                "pipeline_calls": self.last_calls, "sampled_resolution": self.last_resolution}
