"""Offline test assets for today's text-to-image pipeline classes: tiny, randomly initialised diffusers
pipelines shaped like SDXL (base, refiner, Turbo, LCM), Stable Diffusion 3, PixArt-Sigma and FLUX.1
(dev and schnell).

Like ``assets.py``, everything is written without network access and the same arguments write the same
weights; each saved directory carries a ``synscale_model.json`` note marking it as a test model, naming
its pipeline class and how its ``guidance_scale`` acts (``"cfg"``, ``"distilled"`` or ``"none"``; see
``tests/unit/test_modern_assets.py``). The text encoders are 2-layer CLIPs with the real CLIP tokenizer
(``assets.clip_tokenizer``) and the encoder of the tiny word-level T5 that ``assets.save_tiny_t5`` writes.
Every directory loads with ``diffusers.AutoPipelineForText2Image.from_pretrained(d, local_files_only=True)``
(the refiner with ``AutoPipelineForImage2Image``); the images are noise-like (the models are untrained).
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from support.assets import CLIP_MAX_LENGTH, CLIP_VOCAB_SIZE, clip_tokenizer, save_tiny_t5, write_clip_vocab_files
from support.assets_families import _write_note

CLIP_HIDDEN = 16     # width of every tiny CLIP text encoder (and of its projection)
T5_DIM = 32          # d_model of the tiny T5 encoder (>= the two CLIP widths SD3 concatenates)
TIME_EMBED = 8       # SDXL's per-number micro-conditioning embedding (addition_time_embed_dim)
LCM_COND_DIM = 8     # the LCM-distilled UNet's guidance-embedding width (time_cond_proj_dim)
# SDXL-shaped UNet: plain first block, cross-attention (linear projections) in the second, text_time additions
SDXL_UNET = dict(block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8,
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), transformer_layers_per_block=1,
                 attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
                 addition_time_embed_dim=TIME_EMBED, in_channels=4, out_channels=4)
# Latent scaling of the autoencoders the real models ship: (latent channels, scaling_factor, shift_factor)
SDXL_VAE = (4, 0.13025, None)
SD3_VAE = (16, 1.5305, 0.0609)
FLUX_VAE = (16, 0.3611, 0.1159)


def _clip_text(seed: int, projection: bool):
    """A tiny CLIP text encoder (2 layers: SDXL and SD3 read the penultimate hidden state) for the real
    CLIP tokenizer; ``projection`` gives a ``CLIPTextModelWithProjection`` (pooled ``text_embeds``)."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(vocab_size=CLIP_VOCAB_SIZE, hidden_size=CLIP_HIDDEN, intermediate_size=2 * CLIP_HIDDEN,
                         num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=CLIP_MAX_LENGTH,
                         hidden_act="gelu", projection_dim=CLIP_HIDDEN, layer_norm_eps=1e-5,
                         bos_token_id=49406, eos_token_id=49407, pad_token_id=1)
    torch.manual_seed(seed)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(cfg)


def _t5_encoder(seed: int, words: Sequence[str]):
    """The tokenizer and ``T5EncoderModel`` of the tiny T5 that ``assets.save_tiny_t5`` writes."""
    from transformers import AutoTokenizer, T5EncoderModel

    with tempfile.TemporaryDirectory() as tmp:
        save_tiny_t5(tmp, words=words, seed=seed, d_model=T5_DIM)
        return AutoTokenizer.from_pretrained(tmp), T5EncoderModel.from_pretrained(tmp)


def tiny_vae(seed: int, image_size: int, latents: tuple[int, float, float | None] = SDXL_VAE):
    """The shared tiny ``AutoencoderKL`` (2 blocks: 2x downsampling) with the latent channels and latent
    scaling of a real model (``SDXL_VAE`` -- also PixArt-Sigma's --, ``SD3_VAE``, ``FLUX_VAE``); the
    16-channel ones have no quant convolutions and a ``shift_factor``, as SD3's and FLUX's have."""
    import torch
    from diffusers import AutoencoderKL

    channels, scaling, shift = latents
    torch.manual_seed(seed)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=channels, block_out_channels=(16, 32),
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         layers_per_block=1, norm_num_groups=8, sample_size=image_size, scaling_factor=scaling,
                         shift_factor=shift, use_quant_conv=shift is None, use_post_quant_conv=shift is None,
                         force_upcast=True)


def _check_size(image_size: int) -> None:
    if image_size < 8 or image_size % 4:
        raise ValueError(f"image_size must be a multiple of 4 and at least 8 (2x VAE downsampling, then 2x in the "
                         f"UNet, patches or packing), got {image_size}")


def _save(pipe, out: Path, clip_tokenizers: Sequence[str], label: str, **note) -> Path:
    pipe.save_pretrained(str(out))
    for name in clip_tokenizers:   # vocab.json + merges.txt next to tokenizer.json, as the real repos ship them
        write_clip_vocab_files(out / name)
    _write_note(out, label, **note)
    return out


SDXL_VARIANTS = {
    "base": ("Stable Diffusion XL base 1.0", "cfg"),
    "turbo": ("SDXL-Turbo (1-4 steps, guidance_scale 0)", "cfg"),
    "lcm": ("LCM-distilled SDXL (guidance-embedding UNet, LCMScheduler)", "distilled"),
}


def _sdxl_scheduler(variant: str):
    from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, LCMScheduler

    common = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    if variant == "turbo":
        return EulerAncestralDiscreteScheduler(**common, timestep_spacing="trailing")
    if variant == "lcm":
        return LCMScheduler(**common, original_inference_steps=50, timestep_spacing="leading", steps_offset=1)
    return EulerDiscreteScheduler(**common, timestep_spacing="leading", steps_offset=1)


def save_tiny_sdxl(out_dir: str | Path, seed: int = 0, image_size: int = 16, variant: str = "base") -> Path:
    """Save a tiny, randomly initialised ``StableDiffusionXLPipeline``: a ``CLIPTextModel`` and a
    ``CLIPTextModelWithProjection`` (their penultimate states concatenated: cross-attention width 32;
    the second one's pooled projection feeds the ``text_time`` additional embedding with the 6 size/crop
    numbers), two copies of the CLIP tokenizer, the shared 4-channel ``tiny_vae`` and a 2-block UNet.

    ``variant`` picks the scheduler (and UNet): ``"base"`` SDXL 1.0's ``EulerDiscreteScheduler``;
    ``"turbo"`` SDXL-Turbo's ``EulerAncestralDiscreteScheduler`` with ``timestep_spacing="trailing"``
    (1 step samples at t=999); ``"lcm"`` an ``LCMScheduler`` and a UNet with ``time_cond_proj_dim`` (the
    guidance scale is an input embedding, as in latent-consistency/lcm-sdxl). Returns ``out_dir``.
    """
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

    if variant not in SDXL_VARIANTS:
        raise ValueError(f"variant must be one of {sorted(SDXL_VARIANTS)}, got {variant!r}")
    _check_size(image_size)
    out = Path(out_dir)
    te1, te2 = _clip_text(seed, projection=False), _clip_text(seed + 1, projection=True)
    vae = tiny_vae(seed + 2, image_size, SDXL_VAE)
    torch.manual_seed(seed + 3)
    unet = UNet2DConditionModel(sample_size=image_size // 2, cross_attention_dim=2 * CLIP_HIDDEN,
                                projection_class_embeddings_input_dim=6 * TIME_EMBED + CLIP_HIDDEN,
                                time_cond_proj_dim=LCM_COND_DIM if variant == "lcm" else None, **SDXL_UNET)
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=clip_tokenizer(),
                                     tokenizer_2=clip_tokenizer(), unet=unet, scheduler=_sdxl_scheduler(variant),
                                     force_zeros_for_empty_prompt=True, add_watermarker=False)
    name, guidance = SDXL_VARIANTS[variant]
    return _save(pipe, out, ("tokenizer", "tokenizer_2"),
                 f"tiny randomly initialised {name}-shaped pipeline (test model; untrained, its images are noise)",
                 pipeline="StableDiffusionXLPipeline", guidance=guidance, seed=seed, image_size=image_size,
                 variant=variant)


def save_tiny_sdxl_refiner(out_dir: str | Path, seed: int = 0, image_size: int = 16) -> Path:
    """Save a tiny SDXL refiner-shaped ``StableDiffusionXLImg2ImgPipeline`` matching ``save_tiny_sdxl``
    with the same ``seed``: only the second text encoder (the same weights) and its tokenizer, the same
    VAE, a UNet conditioned on that encoder alone and on 5 micro-conditioning numbers (original size,
    crop, aesthetic score: ``requires_aesthetics_score=True``). It is an image-to-image pipeline: it
    loads with ``AutoPipelineForImage2Image`` (``AutoPipelineForText2Image`` would map it to the base
    class, whose UNet inputs it does not fit)."""
    import torch
    from diffusers import StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel

    _check_size(image_size)
    out = Path(out_dir)
    te2 = _clip_text(seed + 1, projection=True)
    vae = tiny_vae(seed + 2, image_size, SDXL_VAE)
    torch.manual_seed(seed + 4)
    unet = UNet2DConditionModel(sample_size=image_size // 2, cross_attention_dim=CLIP_HIDDEN,
                                projection_class_embeddings_input_dim=5 * TIME_EMBED + CLIP_HIDDEN, **SDXL_UNET)
    pipe = StableDiffusionXLImg2ImgPipeline(vae=vae, text_encoder=None, text_encoder_2=te2, tokenizer=None,
                                            tokenizer_2=clip_tokenizer(), unet=unet,
                                            scheduler=_sdxl_scheduler("base"), requires_aesthetics_score=True,
                                            force_zeros_for_empty_prompt=False, add_watermarker=False)
    return _save(pipe, out, ("tokenizer_2",), "tiny randomly initialised Stable Diffusion XL refiner 1.0-shaped "
                 "pipeline (test model; untrained, its images are noise)",
                 pipeline="StableDiffusionXLImg2ImgPipeline", guidance="cfg", seed=seed, image_size=image_size)


def save_tiny_sd3(out_dir: str | Path, seed: int = 0, image_size: int = 16, words: Sequence[str] = ()) -> Path:
    """Save a tiny, randomly initialised ``StableDiffusion3Pipeline``: CLIP-L- and CLIP-G-shaped
    ``CLIPTextModelWithProjection`` encoders (penultimate states concatenated and zero-padded to the T5
    width; pooled projections concatenated: 32), the tiny T5 encoder (``text_encoder_3``, word-level
    tokenizer knowing ``words``), the 16-channel ``tiny_vae`` with SD3's latent scaling and shift, a
    one-layer ``SD3Transformer2DModel`` (patch 2) and SD3's ``FlowMatchEulerDiscreteScheduler`` (shift 3).
    Returns ``out_dir``."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    _check_size(image_size)
    out = Path(out_dir)
    te1, te2 = _clip_text(seed, projection=True), _clip_text(seed + 1, projection=True)
    tok3, te3 = _t5_encoder(seed + 2, words)
    vae = tiny_vae(seed + 3, image_size, SD3_VAE)
    latent = image_size // 2
    torch.manual_seed(seed + 4)
    transformer = SD3Transformer2DModel(sample_size=latent, patch_size=2, in_channels=SD3_VAE[0], num_layers=1,
                                        attention_head_dim=8, num_attention_heads=2, joint_attention_dim=T5_DIM,
                                        caption_projection_dim=16, pooled_projection_dim=2 * CLIP_HIDDEN,
                                        out_channels=SD3_VAE[0], pos_embed_max_size=latent)
    pipe = StableDiffusion3Pipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                    vae=vae, text_encoder=te1, tokenizer=clip_tokenizer(), text_encoder_2=te2,
                                    tokenizer_2=clip_tokenizer(), text_encoder_3=te3, tokenizer_3=tok3)
    return _save(pipe, out, ("tokenizer", "tokenizer_2"), "tiny randomly initialised Stable Diffusion 3-shaped "
                 "pipeline (test model; untrained, its images are noise)", pipeline="StableDiffusion3Pipeline",
                 guidance="cfg", seed=seed, image_size=image_size, t5_vocab_size=len(tok3))


def save_tiny_pixart_sigma(out_dir: str | Path, seed: int = 0, image_size: int = 16,
                           words: Sequence[str] = ()) -> Path:
    """Save a tiny, randomly initialised ``PixArtSigmaPipeline``: the tiny T5 encoder and its word-level
    tokenizer (knowing ``words``), the shared 4-channel ``tiny_vae`` (PixArt-Sigma uses SDXL's VAE), a
    one-layer ``PixArtTransformer2DModel`` (adaLN-single, patch 2, 8 output channels: noise and learned
    variance, no size conditioning) and a ``DPMSolverMultistepScheduler``.

    Its transformer's ``sample_size`` is none of PixArt's aspect-ratio bin tables (32/64/128/256), so a
    call must pass ``use_resolution_binning=False``. Returns ``out_dir``."""
    import torch
    from diffusers import DPMSolverMultistepScheduler, PixArtSigmaPipeline, PixArtTransformer2DModel

    _check_size(image_size)
    out = Path(out_dir)
    tok, te = _t5_encoder(seed, words)
    vae = tiny_vae(seed + 1, image_size, SDXL_VAE)
    torch.manual_seed(seed + 2)
    transformer = PixArtTransformer2DModel(num_attention_heads=2, attention_head_dim=8, in_channels=SDXL_VAE[0],
                                           out_channels=2 * SDXL_VAE[0], num_layers=1, cross_attention_dim=16,
                                           sample_size=image_size // 2, patch_size=2, caption_channels=T5_DIM,
                                           norm_type="ada_norm_single", use_additional_conditions=False,
                                           interpolation_scale=1)
    scheduler = DPMSolverMultistepScheduler(beta_start=0.0001, beta_end=0.02, beta_schedule="linear")
    pipe = PixArtSigmaPipeline(tokenizer=tok, text_encoder=te, vae=vae, transformer=transformer, scheduler=scheduler)
    return _save(pipe, out, (), "tiny randomly initialised PixArt-Sigma-shaped pipeline (test model; untrained, "
                 "its images are noise)", pipeline="PixArtSigmaPipeline", guidance="cfg", seed=seed,
                 image_size=image_size, t5_vocab_size=len(tok))


def save_tiny_flux(out_dir: str | Path, seed: int = 0, image_size: int = 16, variant: str = "dev",
                   words: Sequence[str] = ()) -> Path:
    """Save a tiny, randomly initialised ``FluxPipeline``: a CLIP-L-shaped ``CLIPTextModel`` (pooled output
    only), the tiny T5 encoder (``text_encoder_2``, knowing ``words``), the 16-channel ``tiny_vae`` with
    FLUX's latent scaling and shift, a ``FluxTransformer2DModel`` with one double- and one single-stream
    block over 2x2-packed latents (64 input channels) and a ``FlowMatchEulerDiscreteScheduler``.

    ``variant="dev"``: FLUX.1-dev-shaped, ``guidance_embeds=True`` (``guidance_scale`` is an embedded
    input of the guidance-distilled transformer) and resolution-dependent shifting of the schedule;
    ``variant="schnell"``: FLUX.1-schnell-shaped, ``guidance_embeds=False`` (``guidance_scale`` is unused)
    and a fixed schedule (shift 1). ``FluxPipeline`` defaults to 256 px here (its default size ignores the
    model's), so a call passes ``height`` and ``width``. Returns ``out_dir``."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    if variant not in ("dev", "schnell"):
        raise ValueError(f"variant must be 'dev' or 'schnell', got {variant!r}")
    _check_size(image_size)
    out = Path(out_dir)
    te = _clip_text(seed, projection=False)
    tok2, te2 = _t5_encoder(seed + 1, words)
    vae = tiny_vae(seed + 2, image_size, FLUX_VAE)
    torch.manual_seed(seed + 3)
    dev = variant == "dev"
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=4 * FLUX_VAE[0], num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=T5_DIM,
                                         pooled_projection_dim=CLIP_HIDDEN, guidance_embeds=dev,
                                         axes_dims_rope=(4, 6, 6))
    if dev:
        scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                    max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
    else:
        scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)
    pipe = FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=te, tokenizer=clip_tokenizer(), text_encoder_2=te2,
                        tokenizer_2=tok2, transformer=transformer)
    return _save(pipe, out, ("tokenizer",), f"tiny randomly initialised FLUX.1-{variant}-shaped pipeline (test "
                 "model; untrained, its images are noise)", pipeline="FluxPipeline",
                 guidance="distilled" if dev else "none", seed=seed, image_size=image_size, variant=variant,
                 t5_vocab_size=len(tok2))


def save_tiny_modern(out_dir: str | Path, seed: int = 0, image_size: int = 16,
                     words: Sequence[str] = ()) -> dict[str, Path]:
    """All of the above under ``out_dir``, keyed by name: ``sdxl``, ``sdxl_refiner``, ``sdxl_turbo``,
    ``sdxl_lcm``, ``sd3``, ``pixart_sigma``, ``flux_dev``, ``flux_schnell``."""
    d = Path(out_dir)
    return {"sdxl": save_tiny_sdxl(d / "sdxl", seed, image_size),
            "sdxl_refiner": save_tiny_sdxl_refiner(d / "sdxl_refiner", seed, image_size),
            "sdxl_turbo": save_tiny_sdxl(d / "sdxl_turbo", seed, image_size, variant="turbo"),
            "sdxl_lcm": save_tiny_sdxl(d / "sdxl_lcm", seed, image_size, variant="lcm"),
            "sd3": save_tiny_sd3(d / "sd3", seed, image_size, words),
            "pixart_sigma": save_tiny_pixart_sigma(d / "pixart_sigma", seed, image_size, words),
            "flux_dev": save_tiny_flux(d / "flux_dev", seed, image_size, "dev", words),
            "flux_schnell": save_tiny_flux(d / "flux_schnell", seed, image_size, "schnell", words)}
