"""Step of rule ``train_t2i``: the embedded default's tiny text-to-image model of a family, trained
on the real train split and saved as the family's diffusers pipeline directory (loaded like real
weights):

* ``latent_diffusion``: a ``StableDiffusionPipeline`` (``synscale.t2i``);
* ``pixel_cascade``: an ``IFPipeline`` and an ``IFSuperResolutionPipeline``, saved as ``stage_1`` and
  ``stage_2`` of the model directory (``synscale.t2i_if``);
* ``masked_token``: an ``AmusedPipeline`` (``synscale.t2i_amused``).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from synscale.data.integrity import check
from synscale.device import work_record
from synscale.io import atomic_path, write_json
from synscale.logs import Progress
from synscale.provenance import provenance
from synscale.seeds import seed_for
from synscale.steps.common import load_classes, read_images
from synscale.steps.keys import T2I_RECORD
from synscale.train.preempt import stop_on_signals
from synscale.train.resume import resume_path
from synscale.train.stages import Stages

log = logging.getLogger("synscale")


def _progress(model: str):
    """The progress factory the trainers take: ``progress(phase, total)(step, loss)``."""
    return lambda name, total: Progress(f"{model} {name}", total)


# each trainer returns (training statistics, a function saving the trained pipeline(s) into a
# directory); it hands the modules it trains to ``stages`` (synscale.train.stages) before training
def _train_latent_diffusion(cfg, tc, images, caps, seed, progress, stages):
    from synscale.t2i.latent_diffusion import build_latent_diffusion, train_unet, train_vae

    pipe = build_latent_diffusion(tc["arch"], tc["text_encoder"], tc["max_length"],
                                  cfg["data"]["channels"], cfg["data"]["image_size"], seed)
    stages.attach({"vae": pipe.vae, "unet": pipe.unet})
    bs = tc["batch_size"]
    p = progress("VAE", tc["vae_steps"])
    vae_stats = train_vae(pipe, images, tc["vae_steps"], bs, tc["vae_lr"], tc["kl_weight"], seed,
                          progress=lambda s, v: p(s + 1, v), stages=stages)
    log.info("VAE: %s", vae_stats)
    p = progress("UNet", tc["unet_steps"])
    unet_stats = train_unet(pipe, images, caps, tc["unet_steps"], bs, tc["unet_lr"], tc["uncond_prob"],
                            seed + 1, progress=lambda s, v: p(s + 1, v), stages=stages)
    log.info("UNet: %s", unet_stats)
    return {**vae_stats, **unet_stats}, lambda d: pipe.save_pretrained(str(d))


def _train_pixel_cascade(cfg, tc, images, caps, seed, progress, stages):
    from synscale.t2i.pixel_cascade import build_cascade, save_cascade, train_cascade

    s1, s2 = build_cascade(tc["arch"], tc["text_encoder"], cfg["data"]["channels"], tc["base_size"],
                           cfg["data"]["image_size"], seed)
    stages.attach({"stage_1_unet": s1.unet, "stage_2_unet": s2.unet})
    stats = train_cascade(s1, s2, images, caps, tc, seed, progress=progress, stages=stages)
    return stats, lambda d: save_cascade(s1, s2, d)


def _train_masked_token(cfg, tc, images, caps, seed, progress, stages):
    from synscale.t2i.masked_token import build_amused, save_amused, train_amused

    pipe = build_amused(tc["arch"], cfg["data"]["channels"], cfg["data"]["image_size"], seed)
    stages.attach({"vqvae": pipe.vqvae, "transformer": pipe.transformer, "text_encoder": pipe.text_encoder})
    stats = train_amused(pipe, images, caps, tc, seed, progress=progress, stages=stages)
    return stats, lambda d: save_amused(pipe, d)


TRAINERS = {"latent_diffusion": _train_latent_diffusion, "pixel_cascade": _train_pixel_cascade,
            "masked_token": _train_masked_token}
#: each family's training stages, in order: (name, steps key, batch size key) of models.<name>.train
STAGES = {"latent_diffusion": (("VAE", "vae_steps", "batch_size"), ("UNet", "unet_steps", "batch_size")),
          "pixel_cascade": (("stage_1", "stage_1_steps", "batch_size"), ("stage_2", "stage_2_steps", "batch_size")),
          "masked_token": (("VQ", "vq_steps", "vq_batch_size"), ("transformer", "steps", "batch_size"))}


def training_work(family: str, tc: dict, seconds: float) -> dict:
    """The ``work`` block of a tiny model's training (every stage's samples; the tiny models train on
    the CPU)."""
    stages = STAGES[family]
    samples = sum(int(tc[steps]) * int(tc[batch]) for _, steps, batch in stages)
    return work_record("samples", samples, seconds, {}, steps=sum(int(tc[steps]) for _, steps, _ in stages),
                       arch=family)


def train_tiny_model(cfg: dict, model: str, train_shards: Sequence[str | Path], classes_json: str | Path,
              out_dir: str | Path, manifests: Sequence[str | Path] = ()) -> dict:
    """Train the embedded default's tiny model ``model`` (of its family) and save it."""
    from synscale.prompts.sets import clip_templates
    from synscale.prompts.statistics_captioner import caption_images
    from synscale.t2i.tiny import training_captions

    check(train_shards, manifests)
    t0 = time.time()
    m = cfg["models"][model]
    tc = m["train"]
    family = m["family"]
    if family not in TRAINERS:
        raise ValueError(f"models.{model}.family: no tiny {family!r} model to train; give local weights in "
                         f"models.{model}.path")
    seed = seed_for(cfg["seed"], "t2i", model)
    classes = load_classes(classes_json)
    data = read_images(train_shards, cfg)
    captions = caption_images(data.images)
    caps = training_captions(classes["names"], data.labels, captions, clip_templates("clip80"),
                             np.random.default_rng(seed), tc["caption_variants"])
    resume = resume_path(out_dir)
    identity = {"model": model, "family": family, "seed": seed, "train": tc, "images": len(data)}
    plan = [(name, int(tc[steps])) for name, steps, _ in STAGES[family]]
    with stop_on_signals() as flag, Stages(resume, identity, plan, flag) as stages:
        stats, save = TRAINERS[family](cfg, tc, data.images, caps, seed, _progress(model), stages)
    wall = time.time() - t0
    log.info("%s (%s): trained in %.0f s: %s", model, family, wall, stats)
    with atomic_path(out_dir, is_dir=True) as tmp:
        save(tmp)
        write_json(Path(tmp) / T2I_RECORD, {
            "model": model, "family": family, "n_train_images": len(data), **stats,
            "training_seconds": round(wall, 1), "work": training_work(family, tc, wall),
            "resumed_from": stages.start,
            "provenance": provenance(cfg, seeds={"t2i": seed}, wall_time_s=wall),
        })
    resume.unlink(missing_ok=True)
    return stats


def train_t2i(job) -> dict:
    return train_tiny_model(job.config, job.params["model"], job.input["train"], job.input["classes"],
                            job.output["out"],
                     job.input["manifests"])
