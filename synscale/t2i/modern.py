"""The family ``diffusers``: today's text-to-image models, any diffusers pipeline of the classes below
loaded from a local ``save_pretrained`` directory (its class read from ``model_index.json``), with
each model's guidance handled as the model takes it, not as if every model took classic CFG.

``models.<name>.guidance`` states what the run's guidance value means:

* ``cfg``: classifier-free guidance, diffusers' convention ``uncond + w (cond - uncond)`` with w the
  run's guidance (unguided at w <= 1): Stable Diffusion 1.x/2.x, SDXL, SD3/3.5, PixArt-alpha/Sigma;
* ``distilled``: the value is an input of a guidance-distilled network (one pass per step, no
  unconditional branch): FLUX.1-dev (``guidance_embeds``), an LCM UNet (``time_cond_proj_dim``);
* ``none``: the model takes no guidance: FLUX.1-schnell (no guidance input), few-step models such as
  SDXL-Turbo run unguided (diffusers' guidance_scale 0). A run of such a model has guidance 0.

Where the directory tells (a FLUX transformer's ``guidance_embeds``, a UNet's ``time_cond_proj_dim``),
the stated semantics must match it or loading fails naming the key. Per model: ``resolution`` (the
sampling height and width; the shard stores ``data.image_size``), ``steps``, an optional
``scheduler`` (a diffusers scheduler class, built from the pipeline's scheduler config), an optional
SDXL ``refiner_path`` (a ``StableDiffusionXLImg2ImgPipeline`` that takes over the base's latents at
``refiner_start`` of the denoising), and throughput switches ``channels_last``, ``vae_tiling`` and
``compile`` (``torch.compile`` of the denoiser), all recorded in the shard manifests.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from synscale.t2i.prompt_cache import PromptEmbeddings, supported
from synscale.t2i.sampling import MissingWeightsError, Output, Sampler, check_model_dir

#: pipeline classes the family loads, and the guidance semantics each can take
PIPELINES = {
    "StableDiffusionPipeline": ("cfg", "none"),
    "StableDiffusionXLPipeline": ("cfg", "distilled", "none"),
    "StableDiffusion3Pipeline": ("cfg", "none"),
    "PixArtAlphaPipeline": ("cfg", "none"),
    "PixArtSigmaPipeline": ("cfg", "none"),
    "FluxPipeline": ("distilled", "none"),
    "LatentConsistencyModelPipeline": ("distilled",),
}
REFINERS = ("StableDiffusionXLImg2ImgPipeline",)
GUIDANCE = ("cfg", "distilled", "none")
# call arguments some pipelines need at any size: PixArt bins resolutions to its own sizes and cleans
# captions with BeautifulSoup unless told not to
CALL_EXTRA = {"PixArtAlphaPipeline": {"use_resolution_binning": False, "clean_caption": False},
              "PixArtSigmaPipeline": {"use_resolution_binning": False, "clean_caption": False}}
_SCHEDULER = re.compile(r"^[A-Z][A-Za-z0-9]*Scheduler$")


def pipeline_class(path: str | Path, key: str) -> str:
    """The pipeline class a local directory was saved as (``model_index.json``'s ``_class_name``)."""
    index = Path(path) / "model_index.json"
    try:
        name = json.loads(index.read_text())["_class_name"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{key} = {str(path)!r}: {index} does not name a pipeline class ({e})") from None
    return str(name)


def _component_config(path: str | Path, component: str) -> dict:
    try:
        return json.loads((Path(path) / component / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def directory_guidance(path: str | Path, cls: str) -> str | None:
    """The guidance a directory's own configuration implies, where it tells: a FLUX transformer
    with or without its guidance embedding, an SDXL or LCM UNet with a guidance input."""
    if cls == "FluxPipeline":
        return "distilled" if _component_config(path, "transformer").get("guidance_embeds") else "none"
    if cls in ("StableDiffusionXLPipeline", "LatentConsistencyModelPipeline"):
        if _component_config(path, "unet").get("time_cond_proj_dim"):
            return "distilled"
    return None


def check_guidance(path: str | Path, cls: str, guidance: str, name: str) -> None:
    """Fail naming ``models.<name>.guidance`` where the pipeline cannot take that guidance."""
    key = f"models.{name}.guidance"
    if guidance not in GUIDANCE:
        raise ValueError(f"{key} = {guidance!r}: one of {', '.join(GUIDANCE)}")
    if cls not in PIPELINES:
        raise ValueError(f"models.{name}.path = {str(path)!r}: a {cls}, not a text-to-image pipeline of family "
                         f"diffusers ({', '.join(sorted(PIPELINES))})")
    if guidance not in PIPELINES[cls]:
        raise ValueError(f"{key} = {guidance!r}: a {cls} takes {' or '.join(PIPELINES[cls])}")
    own = directory_guidance(path, cls)
    if own == "distilled" and guidance == "cfg":
        raise ValueError(f"{key} = 'cfg': {path} is guidance-distilled (its guidance is an input of the network, "
                         f"not classifier-free guidance); set guidance: distilled")
    if own is not None and own != "distilled" and guidance == "distilled":
        raise ValueError(f"{key} = 'distilled': {path} has no guidance input; set guidance: {own}")
    if own == "none" and guidance != "none":
        raise ValueError(f"{key} = {guidance!r}: {path} takes no guidance; set guidance: none")


def _denoiser(pipe):
    return getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)


def _load(path: str, key: str, dtype: torch.dtype, allowed: tuple[str, ...]):
    import diffusers

    check_model_dir(path, key)
    cls = pipeline_class(path, key)
    if cls not in allowed:
        raise ValueError(f"{key} = {path!r}: a {cls}; family diffusers loads {', '.join(sorted(allowed))} here")
    extra = {"safety_checker": None, "requires_safety_checker": False} if cls == "StableDiffusionPipeline" else {}
    if cls.startswith("StableDiffusionXL"):
        extra = {"add_watermarker": False}
    try:
        pipe = getattr(diffusers, cls).from_pretrained(path, dtype=dtype, local_files_only=True, **extra)
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"{key} = {path!r}: cannot load a {cls} from it ({e}); point the key at a local "
                         f"save_pretrained directory") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _set_scheduler(pipe, name: str | None, key: str) -> None:
    if not name:
        return
    import diffusers

    if not _SCHEDULER.match(name) or not hasattr(diffusers, name):
        raise ValueError(f"{key} = {name!r}: not a diffusers scheduler class (e.g. EulerAncestralDiscreteScheduler)")
    pipe.scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config)


def load_modern(paths: list[str], model_cfg: dict, name: str, dtype: torch.dtype):
    """The ``Modern`` sampler of a model of family diffusers (``paths``: its directory, then its
    refiner's where ``refiner_path`` is set)."""
    if not paths or not paths[0]:
        raise MissingWeightsError(f"models.{name}.path: family diffusers needs a local pipeline directory")
    pipe = _load(str(paths[0]), f"models.{name}.path", dtype, tuple(PIPELINES))
    cls = type(pipe).__name__
    check_guidance(paths[0], cls, model_cfg["guidance"], name)
    _set_scheduler(pipe, model_cfg.get("scheduler"), f"models.{name}.scheduler")
    refiner = None
    if len(paths) > 1 and paths[1]:
        if cls != "StableDiffusionXLPipeline":
            raise ValueError(f"models.{name}.refiner_path: a refiner follows an SDXL base only, not a {cls}")
        refiner = _load(str(paths[1]), f"models.{name}.refiner_path", dtype, REFINERS)
    for p in (pipe, refiner):
        if p is None:
            continue
        if model_cfg.get("vae_tiling") and hasattr(p, "vae"):
            p.vae.enable_tiling()
        if model_cfg.get("channels_last"):
            _denoiser(p).to(memory_format=torch.channels_last)
        if model_cfg.get("compile"):
            setattr(p, "transformer" if getattr(p, "transformer", None) is not None else "unet",
                    torch.compile(_denoiser(p)))
    return Modern(pipe, refiner, guidance=model_cfg["guidance"], resolution=model_cfg.get("resolution"),
                  refiner_start=float(model_cfg.get("refiner_start", 0.8)),
                  options={k: bool(model_cfg.get(k)) for k in ("channels_last", "vae_tiling", "compile")})


def call_arguments(cls: str, guidance_kind: str, guidance: float, resolution: int | None) -> dict:
    """The sampling arguments of one call of a ``cls`` pipeline at the run's ``guidance``."""
    kw = dict(CALL_EXTRA.get(cls, {}))
    kw["guidance_scale"] = 0.0 if guidance_kind == "none" else float(guidance)
    if resolution:
        kw["height"] = kw["width"] = int(resolution)
    return kw


class Modern(Sampler):
    """A diffusers text-to-image pipeline of today (``synscale.t2i.modern``), called with the
    run's guidance as its ``guidance`` semantics say, at ``resolution``; an SDXL refiner takes over
    the base's latents at ``refiner_start`` of the denoising."""
    family = "diffusers"

    def __init__(self, pipe, refiner=None, guidance: str = "cfg", resolution: int | None = None,
                 refiner_start: float = 0.8, options: dict | None = None):
        super().__init__(*([pipe] + ([refiner] if refiner is not None else [])))
        self.guidance, self.resolution, self.refiner_start = guidance, resolution, refiner_start
        self.options = dict(options or {})
        # text embeddings once per distinct prompt of a job (synscale.t2i.prompt_cache)
        self.embeddings = [PromptEmbeddings(p) if supported(p) else None for p in self.pipes]
        self.planned = False

    def plan_prompts(self, prompts: list, batch_size: int) -> None:
        for e in self.embeddings:
            if e is not None:
                e.plan(prompts, batch_size)
        self.planned = True

    def _text(self, i: int, prompt: list) -> dict:
        """``prompt=`` or, in a planned job, the cached embeddings that stand for it."""
        e = self.embeddings[i]
        if e is None or not self.planned or self.batch_index is None:
            return {"prompt": prompt}
        return e.arguments(self.batch_index, prompt)

    def _call(self, pipe, **kw):
        res = super()._call(pipe, **kw)
        self.last_calls[-1]["text"] = "prompt_embeds" if "prompt_embeds" in kw else "prompt"
        return res

    def _sample(self, prompt, guidance, steps, generator) -> Output:
        base = self.pipes[0]
        kw = call_arguments(type(base).__name__, self.guidance, guidance, self.resolution)
        self.last_guidance_scales = [0.0 if self.guidance == "none" else float(guidance)] * steps
        if len(self.pipes) == 1:
            res = self._call(base, **self._text(0, prompt), num_inference_steps=steps, generator=generator,
                             output_type="np", **kw)
            return Output(np.asarray(res.images))
        latents = self._call(base, **self._text(0, prompt), num_inference_steps=steps, generator=generator,
                             output_type="latent", denoising_end=self.refiner_start, **kw).images
        kw.pop("height", None), kw.pop("width", None)
        res = self._call(self.pipes[1], **self._text(1, prompt), image=latents, num_inference_steps=steps,
                         denoising_start=self.refiner_start, generator=generator, output_type="np", **kw)
        return Output(np.asarray(res.images))

    def describe(self) -> dict:
        text = [e.record() if e is not None and self.planned else {"cached": False} for e in self.embeddings]
        return {**super().describe(), "guidance": self.guidance, "resolution": self.resolution,
                "refiner_start": self.refiner_start if len(self.pipes) > 1 else None, "options": self.options,
                "text_embeddings": text}
