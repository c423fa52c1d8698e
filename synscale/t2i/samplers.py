"""One sampler per text-to-image family, each built from local diffusers ``save_pretrained`` dirs.

* ``latent_diffusion`` (Stable Diffusion): ``StableDiffusionPipeline``.
* ``pixel_cascade`` (Imagen's open analogue, DeepFloyd IF): ``IFPipeline`` (stage I, 64 px) then
  ``IFSuperResolutionPipeline`` (stage II, 256 px). The T5 prompt embeddings are computed once by
  stage I and passed to both stages; stage I samples at the run's guidance, stage II at
  ``models.<name>.sr_guidance`` with ``sr_steps`` steps and ``noise_level`` augmentation.
* ``masked_token`` (Muse's open analogue, aMUSEd): ``AmusedPipeline``. The paper gives Muse's
  guidance as t in [0.1, 1] with Muse's rule cond + t (cond - uncond); diffusers' pipeline uses
  uncond + w (cond - uncond) and applies it only when w > 1. The two agree for w = 1 + t
  (``muse_guidance``), so a run's guidance t samples with ``guidance_scale = 1 + t``.

Every sampler is called like a diffusers pipeline (``prompt``, ``guidance_scale`` -- the run's,
in the paper's convention --, ``num_inference_steps``, ``generator``, ``output_type="np"``) and
returns an object whose ``images`` are N x H x W x 3 floats in [0, 1].
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

FAMILY_PIPELINES = {
    "latent_diffusion": ("StableDiffusionPipeline",),
    "pixel_cascade": ("IFPipeline", "IFSuperResolutionPipeline"),
    "masked_token": ("AmusedPipeline",),
}
# the config keys naming each family's directories, in pipeline order
FAMILY_PATH_KEYS = {"latent_diffusion": ("path",), "pixel_cascade": ("path", "sr_path"), "masked_token": ("path",)}


def muse_guidance(t: float) -> float:
    """The paper's Muse guidance t (cond + t (cond - uncond)) as diffusers' guidance_scale w
    (uncond + w (cond - uncond)): w = 1 + t. t = 0 is unguided sampling."""
    return 1.0 + float(t)


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


def load_pipeline(path: str | os.PathLike, family: str, key: str = "models.<name>.path",
                  dtype: torch.dtype = torch.float32):
    """The diffusers pipeline of a one-directory family (``synscale.samplers`` builds samplers of
    every family, the cascade's two directories included)."""
    if family not in FAMILY_PIPELINES:
        raise ValueError(f"{key}: unknown model family {family!r}; known: {sorted(FAMILY_PIPELINES)}")
    return _load(FAMILY_PIPELINES[family][0], path, key, dtype)


@dataclass
class Output:
    images: np.ndarray


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


class Sampler:
    family = ""

    def __init__(self, *pipes):
        self.pipes = list(pipes)

    def to(self, device=None, dtype=None):
        for p in self.pipes:
            p.to(device=device, dtype=dtype)
        return self

    @property
    def device(self) -> torch.device:
        return self.pipes[0].device

    def __call__(self, prompt, guidance_scale, num_inference_steps, generator, output_type="np") -> Output:
        raise NotImplementedError


class LatentDiffusion(Sampler):
    family = "latent_diffusion"

    def guidance_scale(self, guidance: float) -> float:
        """diffusers' guidance_scale for a run's guidance."""
        return float(guidance)

    def __call__(self, prompt, guidance_scale, num_inference_steps, generator, output_type="np") -> Output:
        res = self.pipes[0](prompt=list(prompt), guidance_scale=self.guidance_scale(guidance_scale),
                            num_inference_steps=num_inference_steps, generator=generator, output_type="np")
        return Output(np.asarray(res.images))


class PixelCascade(Sampler):
    family = "pixel_cascade"

    def __init__(self, stage1, stage2, sr_steps: int, sr_guidance: float, noise_level: int):
        super().__init__(stage1, stage2)
        self.sr_steps, self.sr_guidance, self.noise_level = sr_steps, sr_guidance, noise_level

    def __call__(self, prompt, guidance_scale, num_inference_steps, generator, output_type="np") -> Output:
        s1, s2 = self.pipes
        pe, ne = s1.encode_prompt(list(prompt), do_classifier_free_guidance=True, num_images_per_prompt=1,
                                  device=s1.device, clean_caption=False)
        low = s1(prompt_embeds=pe, negative_prompt_embeds=ne, guidance_scale=float(guidance_scale),
                 num_inference_steps=num_inference_steps, generator=generator, output_type="pt").images
        high = s2(image=low, prompt_embeds=pe, negative_prompt_embeds=ne, guidance_scale=float(self.sr_guidance),
                  num_inference_steps=self.sr_steps, noise_level=self.noise_level, generator=generator,
                  output_type="np").images
        return Output(np.asarray(high))


class MaskedToken(LatentDiffusion):
    """One pipeline called like Stable Diffusion's, at diffusers' guidance_scale 1 + t."""
    family = "masked_token"

    def guidance_scale(self, guidance: float) -> float:
        return muse_guidance(guidance)


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
    config section."""
    if family not in FAMILY_PIPELINES:
        raise ValueError(f"models.{name}.family: unknown family {family!r}; known: {sorted(FAMILY_PIPELINES)}")
    paths = pipeline_dirs(family, paths)
    keys = [f"models.{name}.{k}" for k in FAMILY_PATH_KEYS[family]]
    if len(paths) != len(keys):
        raise ValueError(f"models.{name}: family {family} needs {len(keys)} pipeline directories ({', '.join(keys)}), "
                         f"got {len(paths)}")
    pipes = [_load(cls, p, k, dtype) for cls, p, k in zip(FAMILY_PIPELINES[family], paths, keys)]
    if family == "pixel_cascade":
        return PixelCascade(*pipes, sr_steps=model_cfg["sr_steps"], sr_guidance=model_cfg["sr_guidance"],
                            noise_level=model_cfg["noise_level"])
    if family == "masked_token":
        return MaskedToken(*pipes)
    return LatentDiffusion(*pipes)
