"""One sampler per text-to-image family, each built from local diffusers ``save_pretrained`` dirs.

* ``latent_diffusion`` (Stable Diffusion): ``StableDiffusionPipeline``.
* ``pixel_cascade`` (Imagen's open analogue, DeepFloyd IF): ``IFPipeline`` (stage I, 64 px) then
  ``IFSuperResolutionPipeline`` (stage II, 256 px). The T5 prompt embeddings are computed once by
  stage I and passed to both stages; stage I samples at the run's guidance, stage II at
  ``models.<name>.sr_guidance`` with ``sr_steps`` steps and ``noise_level`` augmentation.
* ``masked_token`` (Muse's open analogue, aMUSEd): ``AmusedPipeline``. The paper gives Muse's
  guidance as t in [0.1, 1] with Muse's rule cond + t (cond - uncond); diffusers' pipeline uses
  uncond + w (cond - uncond) and applies it only when w > 1. The two agree for w = 1 + t
  (``muse_guidance``). Muse raises t linearly over the sampling steps; so does this sampler by
  default (``models.<name>.guidance_schedule``: ``linear`` or ``constant``; ``synscale.t2i.guidance``).

Every sampler is called like a diffusers pipeline (``prompt``, ``guidance_scale`` -- the run's,
in the paper's convention --, ``num_inference_steps``, ``generator``, ``output_type="np"``) and
returns an object whose ``images`` are N x H x W x 3 floats in [0, 1]. ``Sampler.describe()`` says
what it sampled with (pipeline and scheduler classes, scheduler configs, the guidance of every step,
the sampling arguments each pipeline call of its last call received and that call's resolution),
for the shard manifests.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from synscale.config.names import MODEL_PATH_KEYS
from synscale.t2i.guidance import (
    FAMILY_GUIDANCE_SCHEDULE,
    check_schedule,
    guidance_scales,
    muse_guidance,
    scheduled_guidance,
)
from synscale.t2i.sampling import (  # noqa: F401  (re-exported: the samplers' shared interface)
    RECORDED_ARGS,
    MissingWeightsError,
    Output,
    Sampler,
    check_model_dir,
    scheduler_record,
)

FAMILY_PIPELINES = {
    "latent_diffusion": ("StableDiffusionPipeline",),
    "pixel_cascade": ("IFPipeline", "IFSuperResolutionPipeline"),
    "masked_token": ("AmusedPipeline",),
    "diffusers": ("<model_index.json>", "StableDiffusionXLImg2ImgPipeline"),  # synscale.t2i.modern
}
# the config keys naming each family's directories, in pipeline order
FAMILY_PATH_KEYS = MODEL_PATH_KEYS


def load_pipeline(path: str | os.PathLike, family: str, key: str = "models.<name>.path",
                  dtype: torch.dtype = torch.float32):
    """The diffusers pipeline of a one-directory family (``load_sampler`` builds samplers of
    every family, the cascade's two directories included)."""
    if family not in FAMILY_PIPELINES:
        raise ValueError(f"{key}: unknown model family {family!r}; known: {sorted(FAMILY_PIPELINES)}")
    return _load(FAMILY_PIPELINES[family][0], path, key, dtype)


def _load(cls_name: str, path: str | os.PathLike, key: str, dtype: torch.dtype):
    import diffusers

    check_model_dir(path, key)
    cls = getattr(diffusers, cls_name)
    extra = {}
    if cls_name == "StableDiffusionPipeline":
        extra = {"safety_checker": None, "requires_safety_checker": False}
    elif cls_name.startswith("IF"):
        extra = {"safety_checker": None, "watermarker": None, "feature_extractor": None,
                 "requires_safety_checker": False}
    try:
        pipe = cls.from_pretrained(str(path), dtype=dtype, local_files_only=True, **extra)
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"{key} = {str(path)!r}: cannot load a {cls_name} from it ({e}); point the key at a "
                         f"local save_pretrained directory of that pipeline class") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


class LatentDiffusion(Sampler):
    family = "latent_diffusion"

    def _sample(self, prompt, guidance, steps, generator) -> Output:
        self.last_guidance_scales = [guidance] * steps
        res = self._call(self.pipes[0], prompt=prompt, guidance_scale=guidance, num_inference_steps=steps,
                         generator=generator, output_type="np")
        return Output(np.asarray(res.images))


class PixelCascade(Sampler):
    family = "pixel_cascade"

    def __init__(self, stage1, stage2, sr_steps: int, sr_guidance: float, noise_level: int):
        super().__init__(stage1, stage2)
        self.sr_steps, self.sr_guidance, self.noise_level = sr_steps, sr_guidance, noise_level

    def _sample(self, prompt, guidance, steps, generator) -> Output:
        s1, s2 = self.pipes
        self.last_guidance_scales = [guidance] * steps
        pe, ne = s1.encode_prompt(prompt, do_classifier_free_guidance=True, num_images_per_prompt=1,
                                  device=s1.device, clean_caption=False)
        low = self._call(s1, prompt_embeds=pe, negative_prompt_embeds=ne, guidance_scale=guidance,
                         num_inference_steps=steps, generator=generator, output_type="pt").images
        high = self._call(s2, image=low, prompt_embeds=pe, negative_prompt_embeds=ne,
                          guidance_scale=float(self.sr_guidance), num_inference_steps=self.sr_steps,
                          noise_level=self.noise_level, generator=generator, output_type="np").images
        return Output(np.asarray(high))

    def describe(self) -> dict:
        return {**super().describe(), "sr_guidance": float(self.sr_guidance), "sr_steps": int(self.sr_steps),
                "noise_level": int(self.noise_level)}


class MaskedToken(Sampler):
    """One ``AmusedPipeline`` called at the run's Muse guidance t: diffusers' guidance_scale
    ``1 + t_i`` at step ``i``, ``t_i`` following ``guidance_schedule`` (``synscale.t2i.guidance``)."""
    family = "masked_token"

    def __init__(self, pipe, guidance_schedule: str = FAMILY_GUIDANCE_SCHEDULE["masked_token"]):
        super().__init__(pipe)
        self.guidance_schedule = check_schedule(guidance_schedule, self.family)

    def _sample(self, prompt, guidance, steps, generator) -> Output:
        pipe = self.pipes[0]
        scales = guidance_scales(guidance, steps, self.guidance_schedule)
        target = muse_guidance(guidance)
        if self.guidance_schedule == "constant" or target <= 1.0:
            # diffusers' own constant guidance (unguided at t = 0, where every schedule is unguided)
            res = self._call(pipe, prompt=prompt, guidance_scale=target, num_inference_steps=steps,
                             generator=generator, output_type="np")
            applied = [max(target, 1.0)] * steps
        else:
            # guidance_scale > 1 makes the pipeline stack the unconditional and conditional passes
            with scheduled_guidance(pipe.transformer, scales) as applied:
                res = self._call(pipe, prompt=prompt, guidance_scale=target, num_inference_steps=steps,
                                 generator=generator, output_type="np")
            if len(applied) != steps:
                raise RuntimeError(f"AmusedPipeline ran {len(applied)} transformer passes for {steps} steps")
        self.last_guidance_scales = list(applied)
        return Output(np.asarray(res.images))


# a cascade the workflow trains is one directory holding both stages
CASCADE_STAGES = ("stage_1", "stage_2")


def pipeline_dirs(family: str, paths: list[str | Path]) -> list[str]:
    """The pipeline directories of a model: ``paths`` as given, except that a single directory of
    a pixel cascade (the tiny one the workflow trains) holds its stages as subdirectories."""
    if family == "pixel_cascade" and len(paths) == 1 and (Path(paths[0]) / CASCADE_STAGES[0]).is_dir():
        return [str(Path(paths[0]) / s) for s in CASCADE_STAGES]
    return [str(p) for p in paths]


def load_sampler(family: str, paths: list[str | Path], model_cfg: dict, name: str = "<name>",
                 dtype: torch.dtype = torch.float32) -> Sampler:
    """The sampler of ``family`` from its local pipeline directories (``paths``, in the order of
    ``FAMILY_PATH_KEYS``, or the one directory of a trained cascade); ``model_cfg`` is the model's
    config section (its ``guidance_schedule``: the family's default when absent or null)."""
    if family not in FAMILY_PIPELINES:
        raise ValueError(f"models.{name}.family: unknown family {family!r}; known: {sorted(FAMILY_PIPELINES)}")
    if family == "diffusers":
        from synscale.t2i.modern import load_modern

        return load_modern([str(p) for p in paths if p], model_cfg, name, dtype)
    paths = pipeline_dirs(family, paths)
    keys = [f"models.{name}.{k}" for k in FAMILY_PATH_KEYS[family]]
    if len(paths) != len(keys):
        raise ValueError(f"models.{name}: family {family} needs {len(keys)} pipeline directories ({', '.join(keys)}), "
                         f"got {len(paths)}")
    schedule = check_schedule(model_cfg.get("guidance_schedule") or FAMILY_GUIDANCE_SCHEDULE[family], family,
                              f"models.{name}.guidance_schedule")
    pipes = [_load(cls, p, k, dtype) for cls, p, k in zip(FAMILY_PIPELINES[family], paths, keys)]
    if family == "pixel_cascade":
        return PixelCascade(*pipes, sr_steps=model_cfg["sr_steps"], sr_guidance=model_cfg["sr_guidance"],
                            noise_level=model_cfg["noise_level"])
    if family == "masked_token":
        return MaskedToken(*pipes, guidance_schedule=schedule)
    return LatentDiffusion(*pipes)
