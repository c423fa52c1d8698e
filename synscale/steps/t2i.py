"""Step of rule ``train_t2i``: the embedded default's tiny text-to-image model, trained on the real
train split and saved as a diffusers pipeline directory (loaded like real weights)."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import config as C
from ..integrity import check
from ..io import atomic_path, write_json
from ..logs import Progress
from ..provenance import provenance
from .common import IMAGE_KEYS, load_classes, read_images

log = logging.getLogger("synscale")


def keys(model: str) -> tuple[str, ...]:
    return ("seed", *IMAGE_KEYS, f"models.{model}.family", f"models.{model}.train")


def train_t2i(cfg: dict, model: str, train_shards: Sequence[str | Path], classes_json: str | Path,
              out_dir: str | Path, manifests: Sequence[str | Path] = ()) -> dict:
    """Train the embedded default's tiny latent-diffusion model and save it as a pipeline dir."""
    from ..image_stats import caption_images
    from ..prompts import clip_templates
    from ..t2i import build_latent_diffusion, train_unet, train_vae, training_captions

    check(train_shards, manifests)
    t0 = time.time()
    m = cfg["models"][model]
    tc = m["train"]
    seed = C.seed_for(cfg["seed"], "t2i", model)
    classes = load_classes(classes_json)
    data = read_images(train_shards, cfg)
    captions = caption_images(data.images)
    caps = training_captions(classes["names"], data.labels, captions, clip_templates("clip80"),
                             np.random.default_rng(seed), tc["caption_variants"])
    pipe = build_latent_diffusion(tc["arch"], tc["text_encoder"], tc["max_length"],
                                  cfg["data"]["channels"], cfg["data"]["image_size"], seed)
    bs = tc["batch_size"]
    p = Progress(f"{model} VAE", tc["vae_steps"])
    vae_stats = train_vae(pipe, data.images, tc["vae_steps"], bs, tc["vae_lr"], tc["kl_weight"], seed,
                          progress=lambda s, v: p(s + 1, v))
    log.info("VAE: %s", vae_stats)
    p = Progress(f"{model} UNet", tc["unet_steps"])
    unet_stats = train_unet(pipe, data.images, caps, tc["unet_steps"], bs, tc["unet_lr"], tc["uncond_prob"],
                            seed + 1, progress=lambda s, v: p(s + 1, v))
    log.info("UNet: %s", unet_stats)
    with atomic_path(out_dir, is_dir=True) as tmp:
        pipe.save_pretrained(str(tmp))
        write_json(Path(tmp) / "synscale_training.json", {
            "model": model, "family": m["family"], "n_train_images": len(data),
            **vae_stats, **unet_stats,
            "provenance": provenance(cfg, seeds={"t2i": seed}, wall_time_s=time.time() - t0),
        })
    return {**vae_stats, **unet_stats}


def main(job) -> dict:
    return train_t2i(job.config, job.params["model"], job.input["train"], job.input["classes"], job.output["out"],
                     job.input["manifests"])
