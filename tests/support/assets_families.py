"""Offline test assets for the other text-to-image families: tiny, randomly initialised diffusers
pipelines shaped like DeepFloyd IF (a pixel-space cascade with a T5 text encoder) and aMUSEd (masked
token generation over a VQ-GAN codebook with a CLIP text encoder).

Like ``assets.py``, everything is written without network access, and the same arguments write the
same files; each saved pipeline directory carries a ``synscale_model.json`` note marking it as a test model.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from support.assets import CLIP_MAX_LENGTH, CLIP_VOCAB_SIZE, clip_tokenizer, save_tiny_t5, write_clip_vocab_files
from synscale.prompts.word2sen import MODEL_NOTE

T5_DIM = 32      # d_model of the tiny T5 text encoder of the IF cascade
# IF's UNet layout: ResNet up/down-sampling, simple cross-attention, the text pooled into the time embedding
IF_UNET = dict(
    layers_per_block=1, block_out_channels=(32, 64),
    down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
    mid_block_type="UNetMidBlock2DSimpleCrossAttn",
    up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
    out_channels=6, cross_attention_dim=32, encoder_hid_dim=T5_DIM, attention_head_dim=8,
    addition_embed_type="text", addition_embed_type_num_heads=2, cross_attention_norm="group_norm",
    resnet_time_scale_shift="scale_shift", act_fn="gelu")


def _write_note(out: Path, label: str, **fields) -> None:
    (out / MODEL_NOTE).write_text(json.dumps({"label": label, "test_model": True, **fields}, indent=2) + "\n")


def _if_scheduler(sample_max_value: float):
    """The denoising scheduler DeepFloyd IF ships (DDPM, cosine betas, epsilon + learned-range variance,
    dynamic thresholding); ``sample_max_value`` is 1.5 for stage I and 1.0 for stage II."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon",
                         variance_type="learned_range", thresholding=True, dynamic_thresholding_ratio=0.95,
                         sample_max_value=sample_max_value)


def save_tiny_if(out_dir: str | Path, seed: int = 0, base_size: int = 8, sr_size: int = 16,
                 words: Sequence[str] = ()) -> tuple[Path, Path]:
    """Save a tiny, randomly initialised DeepFloyd IF-shaped cascade (stages I and II) under ``out_dir``.

    * ``out_dir/stage1``: an ``IFPipeline`` -- the encoder of the tiny T5 that ``assets.save_tiny_t5``
      writes (``T5EncoderModel``, d_model 32) with its word-level tokenizer (knowing ``words``), a
      text-conditioned pixel-space ``UNet2DConditionModel`` (3 input channels; 6 output channels: noise
      and learned variance) for ``base_size`` px images, and IF's stage I ``DDPMScheduler``;
    * ``out_dir/stage2``: an ``IFSuperResolutionPipeline`` without a text encoder or tokenizer: a UNet
      taking the noisy image concatenated with the upscaled stage I image (6 input channels) and the
      noise level of that image as a timestep class embedding, for ``sr_size`` px images, IF's stage II
      scheduler and its image-noising scheduler.

    Neither has a safety checker, feature extractor or watermarker. They load with
    ``IFPipeline.from_pretrained(out_dir / "stage1", local_files_only=True)`` and
    ``IFSuperResolutionPipeline.from_pretrained(out_dir / "stage2", local_files_only=True)``. Stage II
    needs the prompt embeddings of stage I's ``encode_prompt`` (``prompt_embeds=...,
    negative_prompt_embeds=...``) and stage I's output as a tensor in [-1, 1] (``output_type="pt"``).
    Their images are noise-like (the models are untrained). Returns the two directories.
    """
    import torch
    from diffusers import DDPMScheduler, IFPipeline, IFSuperResolutionPipeline, UNet2DConditionModel
    from transformers import AutoTokenizer, T5EncoderModel

    out = Path(out_dir)
    stage1, stage2 = out / "stage1", out / "stage2"
    with tempfile.TemporaryDirectory() as tmp:
        save_tiny_t5(tmp, words=words, seed=seed, d_model=T5_DIM)
        tokenizer = AutoTokenizer.from_pretrained(tmp)
        text_encoder = T5EncoderModel.from_pretrained(tmp)
    torch.manual_seed(seed + 1)
    unet1 = UNet2DConditionModel(sample_size=base_size, in_channels=3, **IF_UNET)
    pipe1 = IFPipeline(tokenizer=tokenizer, text_encoder=text_encoder, unet=unet1, scheduler=_if_scheduler(1.5),
                       safety_checker=None, feature_extractor=None, watermarker=None, requires_safety_checker=False)
    pipe1.save_pretrained(str(stage1))
    _write_note(stage1, "tiny randomly initialised DeepFloyd IF stage I-shaped pipeline (test model; untrained, "
                "its images are noise)", seed=seed, image_size=base_size, vocab_size=len(tokenizer))

    torch.manual_seed(seed + 2)
    unet2 = UNet2DConditionModel(sample_size=sr_size, in_channels=6, class_embed_type="timestep",
                                 mid_block_scale_factor=1.414, time_embedding_act_fn="gelu", **IF_UNET)
    pipe2 = IFSuperResolutionPipeline(tokenizer=None, text_encoder=None, unet=unet2, scheduler=_if_scheduler(1.0),
                                      image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
                                      safety_checker=None, feature_extractor=None, watermarker=None,
                                      requires_safety_checker=False)
    pipe2.save_pretrained(str(stage2))
    _write_note(stage2, "tiny randomly initialised DeepFloyd IF stage II-shaped super-resolution pipeline (test "
                "model; untrained, its images are noise; no text encoder: pass stage I's prompt embeddings)",
                seed=seed, image_size=sr_size, low_res_size=base_size)
    return stage1, stage2


def save_tiny_amused(out_dir: str | Path, seed: int = 0, size: int = 16) -> Path:
    """Save a tiny, randomly initialised aMUSEd-shaped ``AmusedPipeline``: a ``VQModel`` with a
    64-entry codebook downsampling 2x (a ``size`` px image is a ``size // 2`` square grid of tokens), a
    tiny ``CLIPTextModelWithProjection`` with the real CLIP tokenizer (``assets.clip_tokenizer``), a tiny
    ``UVit2DModel`` predicting codebook logits (token ``64`` is the mask token; it halves the token grid
    internally, as aMUSEd's does) and an ``AmusedScheduler``. The transformer's pooled-text conditioning
    and its logits are initialised wide (x4, x8), so that the logits are peaked and depend clearly on the
    prompt: classifier-free guidance (``guidance_scale > 1``) then changes the sampled tokens.

    It loads with ``AmusedPipeline.from_pretrained(out_dir, local_files_only=True)`` and generates
    ``size`` px RGB images (noise-like: it is untrained). A ``synscale_model.json`` note marks it as a test model.
    """
    import torch
    from diffusers import AmusedPipeline, AmusedScheduler, UVit2DModel, VQModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    if size % 4:
        raise ValueError(f"size must be a multiple of 4 (2x VQ downsampling, then 2x in the transformer), got {size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    codebook, vq_blocks, hidden = 64, 2, 32
    tokenizer = clip_tokenizer()
    text_cfg = CLIPTextConfig(vocab_size=CLIP_VOCAB_SIZE, hidden_size=hidden, intermediate_size=2 * hidden,
                              num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=CLIP_MAX_LENGTH,
                              hidden_act="quick_gelu", projection_dim=hidden, layer_norm_eps=1e-5,
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=1)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModelWithProjection(text_cfg)
    torch.manual_seed(seed + 1)
    vqvae = VQModel(in_channels=3, out_channels=3, latent_channels=8, num_vq_embeddings=codebook,
                    block_out_channels=(16, 32), down_block_types=("DownEncoderBlock2D",) * vq_blocks,
                    up_block_types=("UpDecoderBlock2D",) * vq_blocks, layers_per_block=1, norm_num_groups=8,
                    act_fn="silu", sample_size=size, mid_block_add_attention=False, lookup_from_codebook=True,
                    force_upcast=True)
    torch.manual_seed(seed + 2)
    transformer = UVit2DModel(hidden_size=hidden, use_bias=False, hidden_dropout=0.0, cond_embed_dim=hidden,
                              micro_cond_encode_dim=4, micro_cond_embed_dim=5 * 4, encoder_hidden_size=hidden,
                              vocab_size=codebook + 1, codebook_size=codebook, in_channels=hidden,
                              block_out_channels=hidden, num_res_blocks=1, downsample=True, upsample=True,
                              block_num_heads=2, num_hidden_layers=1, num_attention_heads=2, attention_dropout=0.0,
                              intermediate_size=2 * hidden, layer_norm_eps=1e-6, ln_elementwise_affine=True,
                              sample_size=size // 2 ** (vq_blocks - 1))
    with torch.no_grad():
        transformer.cond_embed.linear_2.weight.mul_(4.0)   # the pooled text (+ micro-conditioning) embedding
        transformer.mlm_layer.conv2.weight.mul_(8.0)       # the codebook logits
    scheduler = AmusedScheduler(mask_token_id=codebook, masking_schedule="cosine")
    pipe = AmusedPipeline(vqvae=vqvae, tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer,
                          scheduler=scheduler)
    pipe.save_pretrained(str(out))
    write_clip_vocab_files(out / "tokenizer")
    _write_note(out, "tiny randomly initialised aMUSEd-shaped pipeline (test model; untrained, its images are noise)",
                seed=seed, image_size=size, token_grid=size // 2 ** (vq_blocks - 1), vocab_size=CLIP_VOCAB_SIZE,
                codebook_size=codebook)
    return out


def save_tiny_families(out_dir: str | Path, words: Sequence[str]) -> dict[str, list[Path]]:
    """One tiny saved pipeline of each T2I family at 16 px, keyed by family: the pipeline
    directories a model's ``path`` (and, for the cascade, ``sr_path``) names."""
    from support.assets import save_tiny_sd

    d = Path(out_dir)
    s1, s2 = save_tiny_if(d / "if", base_size=8, sr_size=16, words=words)
    return {"latent_diffusion": [save_tiny_sd(d / "sd", image_size=16)], "pixel_cascade": [s1, s2],
            "masked_token": [save_tiny_amused(d / "amused", size=16)]}
