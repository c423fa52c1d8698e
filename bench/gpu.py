"""GPU benchmark at real size: SD-1.5-shaped generation at 512 px in fp16, SDXL-shaped generation at 1024 px
in fp16, FLUX.1-dev-shaped generation at 1024 px in bf16 and ViT-B/16 training at 224 with the real loader,
each beside its bare baseline; prints images/s.

    bash bench/gpu.sh                       # on a GPU machine (about 80 GB of GPU memory or more)
    bash bench/gpu.sh --cases sdxl,flux     # some of the cases: sd15, sdxl, flux, training
    .venv/bin/python bench/gpu.py --smoke   # tiny sizes, any machine (checks the script runs)

Weights are random (no hub access), built from configs with the real models' shapes, so the compute
per image is the real model's: the SD-1.5 UNet, VAE and text encoder (saved and loaded through
synscale.t2i.samplers.load_pipeline, family latent_diffusion); SDXL base 1.0's UNet (2.6 B parameters),
VAE and its two CLIP text encoders (ViT-L and OpenCLIP bigG); FLUX.1-dev's transformer (12 B: 19 double-
and 38 single-stream blocks, width 3072, guidance embedding), its 16-channel VAE, CLIP ViT-L and T5-XXL
encoder. The SDXL and FLUX pipelines are built in place on the device in their dtype (no copy in float32,
nothing written to disk: FLUX's components alone are 34 GB in bf16) and sampled through the family
diffusers' ``Modern`` sampler (cached text embeddings, one encoder call per group of distinct prompts)
against the bare diffusers loop on the same pipeline. The tokenizers are the test assets' (the real CLIP
BPE; a word-level T5 vocabulary standing in for T5's SentencePiece one, padded to FLUX's 512 tokens as
the real one is). Training streams synthetic 256 px shards through synscale.loader with RandAugment and
Mixup, Table A1's recipe on one GPU (bf16 autocast).
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import ROOT, images, write_shards

sys.path.insert(0, str(ROOT / "tests"))


def sd15(out: Path, smoke: bool, size: int) -> Path:
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from support.assets import CLIP_MAX_LENGTH, CLIP_VOCAB_SIZE, clip_tokenizer, write_clip_vocab_files
    from transformers import CLIPTextConfig, CLIPTextModel

    tok = clip_tokenizer()
    width = 64 if smoke else 768
    text = CLIPTextModel(CLIPTextConfig(vocab_size=CLIP_VOCAB_SIZE, hidden_size=width, intermediate_size=4 * width,
                                        num_hidden_layers=2 if smoke else 12, num_attention_heads=4 if smoke else 12,
                                        max_position_embeddings=CLIP_MAX_LENGTH, hidden_act="quick_gelu",
                                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=1))
    ch = (32, 64, 64, 64) if smoke else (128, 256, 512, 512)
    vae = AutoencoderKL(block_out_channels=ch, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4,
                        norm_num_groups=32, sample_size=size)
    unet = UNet2DConditionModel(
        sample_size=size // 8, block_out_channels=(32, 64, 64, 64) if smoke else (320, 640, 1280, 1280),
        layers_per_block=2,
        cross_attention_dim=width, attention_head_dim=8, norm_num_groups=32,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet,
                                   scheduler=DPMSolverMultistepScheduler(), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(out))
    write_clip_vocab_files(out / "tokenizer")
    return out


def bench_generation(tmp: Path, smoke: bool) -> dict:
    from synscale.device import describe, job_device, place, resolve_dtype
    from synscale.t2i.generate import generate_set
    from synscale.t2i.samplers import load_pipeline

    size, n, steps, batch = (64, 8, 2, 4) if smoke else (512, 64, 20, 16)
    dev = job_device()
    dtype = resolve_dtype("float16", dev)
    pipe = place(load_pipeline(sd15(tmp / "sd15", smoke, size), "latent_diffusion", dtype=dtype), dev)
    prompts = [f"a photo of a {c}" for c in itertools.islice(itertools.cycle(["tench", "goldfish", "shark"]), n)]

    def bare():
        for b, lo in enumerate(range(0, n, batch)):
            with torch.no_grad():
                pipe(prompt=prompts[lo:lo + batch], guidance_scale=2.0, num_inference_steps=steps, height=size,
                     width=size, generator=torch.Generator().manual_seed(b), output_type="np")

    def ours():
        generate_set(pipe, tmp / "gen.tar", "sd_cfg2_bench", 0, [i % 3 for i in range(n)], prompts, 2.0, steps,
                     batch, 0, 256 if not smoke else 32, 3)

    return {"what": f"SD-1.5-shaped pipeline, {size} px, {steps} steps, batch {batch}", **describe(dev, dtype),
            "images_per_s": _measure(dev, n, bare, ours)}


def _measure(dev: torch.device, n: int, bare, ours) -> dict:
    """images/s of the bare loop and of synscale's generate step, after a warm-up run of the bare loop
    (kernels, allocator)."""
    bare()
    out = {}
    for name, fn in (("bare_diffusers", bare), ("synscale_generate", ours)):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        out[name] = round(n / (time.perf_counter() - t0), 3)
    return out


@contextlib.contextmanager
def _built_on(dev: torch.device, dtype: torch.dtype):
    """Modules constructed in this block get their (random) parameters on ``dev`` in ``dtype`` directly:
    no float32 copy on the host (FLUX's transformer alone would be 48 GB)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(dev):
            yield
    finally:
        torch.set_default_dtype(old)


def _clip_text(smoke: bool, width: int, layers: int, heads: int, act: str, projection: bool = False):
    """A CLIP text encoder for the test assets' CLIP tokenizer (smoke: 2 layers of width 32)."""
    from support.assets import CLIP_MAX_LENGTH, CLIP_VOCAB_SIZE
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    if smoke:
        width, layers, heads = 32, 2, 2
    cfg = CLIPTextConfig(vocab_size=CLIP_VOCAB_SIZE, hidden_size=width, intermediate_size=4 * width,
                         num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=CLIP_MAX_LENGTH,
                         hidden_act=act, projection_dim=width, bos_token_id=49406, eos_token_id=49407, pad_token_id=1)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(cfg)


def _vae(smoke: bool, size: int, latent_channels: int, scaling: float, shift: float | None):
    """The SDXL / FLUX autoencoder: 8x downsampling, (128, 256, 512, 512) channels, 2 layers per block
    (smoke: (32, 64, 64, 64))."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=latent_channels,
                         block_out_channels=(32, 64, 64, 64) if smoke else (128, 256, 512, 512),
                         down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                         layers_per_block=2, norm_num_groups=32, sample_size=size, scaling_factor=scaling,
                         shift_factor=shift, use_quant_conv=shift is None, use_post_quant_conv=shift is None,
                         force_upcast=True)


def sdxl(smoke: bool, size: int, dev: torch.device, dtype: torch.dtype):
    """An SDXL-base-1.0-shaped StableDiffusionXLPipeline with random weights. Real shapes: UNet
    (320, 640, 1280) channels, transformer depth (1, 2, 10), heads (5, 10, 20), cross-attention 2048
    (768 from CLIP ViT-L + 1280 from OpenCLIP bigG, penultimate layers), text_time embedding of the
    pooled bigG projection (1280) and 6 size numbers x 256 = 2816; latent 128 at 1024 px; the VAE
    upcast to float32 for decoding (force_upcast, as SDXL 1.0's VAE); SDXL's Euler scheduler."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from support.assets import clip_tokenizer

    with _built_on(dev, dtype):
        te1 = _clip_text(smoke, 768, 12, 12, "quick_gelu")                    # CLIP ViT-L/14
        te2 = _clip_text(smoke, 1280, 32, 20, "gelu", projection=True)       # OpenCLIP ViT-bigG/14
        w1, w2 = te1.config.hidden_size, te2.config.hidden_size
        time_dim = 8 if smoke else 256
        unet = UNet2DConditionModel(
            sample_size=size // 8, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=(32, 64, 64) if smoke else (320, 640, 1280),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 1, 2) if smoke else (1, 2, 10),
            attention_head_dim=(2, 4, 4) if smoke else (5, 10, 20), cross_attention_dim=w1 + w2,
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=time_dim,
            projection_class_embeddings_input_dim=6 * time_dim + w2, norm_num_groups=32)
        vae = _vae(smoke, size, 4, 0.13025, None)
    sched = EulerDiscreteScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                   beta_schedule="scaled_linear", timestep_spacing="leading", steps_offset=1)
    return StableDiffusionXLPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=clip_tokenizer(),
                                     tokenizer_2=clip_tokenizer(), unet=unet, scheduler=sched,
                                     force_zeros_for_empty_prompt=True, add_watermarker=False)


def flux(smoke: bool, size: int, dev: torch.device, dtype: torch.dtype, tmp: Path, words: list[str]):
    """A FLUX.1-dev-shaped FluxPipeline with random weights. Real shapes: transformer with 19 double- and
    38 single-stream blocks, 24 heads x 128 (width 3072), 64 input channels (2x2-packed 16-channel
    latents: 4,096 image tokens at 1024 px), rotary axes (16, 56, 56), guidance embedding, T5 states
    (4096) and the pooled CLIP ViT-L output (768) as inputs; T5-XXL encoder (24 layers, d_model 4096,
    d_ff 10240, 64 heads, gated GELU), 512 tokens; 16-channel VAE with FLUX's latent scaling and shift;
    the flow-matching Euler scheduler with resolution-dependent shift."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from support.assets import clip_tokenizer, save_tiny_t5
    from transformers import AutoTokenizer, T5Config, T5EncoderModel

    save_tiny_t5(tmp / "t5_tokenizer", words=words)
    tok2 = AutoTokenizer.from_pretrained(str(tmp / "t5_tokenizer"))
    t5 = dict(d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2) if smoke else \
        dict(d_model=4096, d_ff=10240, d_kv=64, num_layers=24, num_heads=64)
    with _built_on(dev, dtype):
        te = _clip_text(smoke, 768, 12, 12, "quick_gelu")                     # CLIP ViT-L/14
        te2 = T5EncoderModel(T5Config(vocab_size=32128, feed_forward_proj="gated-gelu", is_encoder_decoder=False,
                                      pad_token_id=0, eos_token_id=1, **t5))  # T5 v1.1 XXL
        transformer = FluxTransformer2DModel(
            patch_size=1, in_channels=64, num_layers=1 if smoke else 19, num_single_layers=2 if smoke else 38,
            attention_head_dim=16 if smoke else 128, num_attention_heads=2 if smoke else 24,
            joint_attention_dim=t5["d_model"], pooled_projection_dim=te.config.hidden_size, guidance_embeds=True,
            axes_dims_rope=(4, 6, 6) if smoke else (16, 56, 56))
        vae = _vae(smoke, size, 16, 0.3611, 0.1159)
    sched = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                            base_image_seq_len=256, max_image_seq_len=4096)
    return FluxPipeline(scheduler=sched, vae=vae, text_encoder=te, tokenizer=clip_tokenizer(), text_encoder_2=te2,
                        tokenizer_2=tok2, transformer=transformer)


CLASSES = ("tench", "goldfish", "great white shark", "tiger shark", "hammerhead", "electric ray", "stingray",
           "cock", "hen", "ostrich")


def bench_modern(tmp: Path, smoke: bool, model: str) -> dict:
    """The generate step through the family diffusers' sampler (``Modern``: cached text embeddings, the
    run's guidance as the model takes it) against the bare loop on the same pipeline, one prompt per
    class as a classname prompt set has."""
    from synscale.device import describe, enable_fast_kernels, job_device, resolve_dtype
    from synscale.t2i.generate import generate_set
    from synscale.t2i.modern import Modern

    # SDXL: classifier-free guidance 5; FLUX.1-dev: distilled guidance 3.5 (one pass per step)
    guidance_kind, guidance, dtype_name = {"sdxl": ("cfg", 5.0, "float16"),
                                           "flux": ("distilled", 3.5, "bfloat16")}[model]
    size, n, steps, batch, store = (64, 8, 2, 4, 32) if smoke else (1024, 32 if model == "sdxl" else 16, 4, 8, 256)
    dev = job_device()
    dtype = resolve_dtype(dtype_name, dev)
    enable_fast_kernels(dev)
    labels = [i % len(CLASSES) for i in range(n)]
    prompts = [f"a photo of a {CLASSES[c]}" for c in labels]
    if model == "sdxl":
        pipe = sdxl(smoke, size, dev, dtype)
    else:
        pipe = flux(smoke, size, dev, dtype, tmp, sorted({w for p in prompts for w in p.split()}))
    pipe.set_progress_bar_config(disable=True)
    sampler = Modern(pipe, guidance=guidance_kind, resolution=size)
    params = sum(p.numel() for p in (pipe.unet if model == "sdxl" else pipe.transformer).parameters())

    def bare():
        for b, lo in enumerate(range(0, n, batch)):
            with torch.no_grad():
                pipe(prompt=prompts[lo:lo + batch], guidance_scale=guidance, num_inference_steps=steps, height=size,
                     width=size, generator=torch.Generator().manual_seed(b), output_type="np")

    def ours():
        generate_set(sampler, tmp / f"{model}.tar", f"{model}_bench", 0, labels, prompts, guidance, steps, batch, 0,
                     store, 3)

    res = {"what": f"{type(pipe).__name__} ({model.upper()}-shaped, denoiser {params / 1e6:,.1f} M parameters, "
                   f"guidance {guidance_kind} {guidance}), {size} px, {steps} steps, batch {batch}, {n} images, "
                   f"{len(CLASSES)} prompts; stored at {store} px", **describe(dev, dtype),
           "images_per_s": _measure(dev, n, bare, ours)}
    if dev.type == "cuda":
        res["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2**30, 1)
    return res


def bench_training(tmp: Path, smoke: bool) -> dict:
    from synscale import config as C
    from synscale.config import recipes as R
    from synscale.data.loader import make_loader, prefix_parts, train_transform
    from synscale.device import describe, job_device, place, resolve_dtype
    from synscale.train.classifier import build_model, train_loop

    cc = C.validate(C.load_yaml(ROOT / "config" / "paper.yaml"))["classifier"]
    micro, steps, n_img, size, inp = (8, 3, 64, 64, 32) if smoke else (256, 40, 8192, 256, 224)
    cc = {**cc, "gpus": 1, "batch_size": micro, "max_device_batch": micro, "input_size": inp}
    arch, kw = cc["arch"], R.model_kwargs(cc["arch"], cc)
    if smoke:
        kw.update(img_size=inp, depth=2, embed_dim=64, num_heads=2)
    r = R.build(cc, iters=steps, warmup=1)
    dev = job_device()
    amp = resolve_dtype("bfloat16", dev)
    shards = write_shards(tmp / "train", images(n_img, size, 3), 512, classes=1000)
    loader = make_loader(prefix_parts(shards, n_img, 512), micro, size, 3, train_transform(inp, 3, cc["augment"]),
                         train=True, seed=0, workers=2 if smoke else 12, pin_memory=dev.type == "cuda")
    model = place(build_model(arch, 1000, 3, kw, seed=0), dev)
    stats = train_loop(model, loader, r, 1000, seed=0, amp_dtype=amp)
    x = torch.randn(micro, 3, inp, inp, device=dev)
    y = torch.randint(0, 1000, (micro,), device=dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    crit = torch.nn.BCEWithLogitsLoss()
    target = torch.nn.functional.one_hot(y, 1000).float()
    from synscale.device import autocast

    for i in range(steps + 3):
        if i == 3:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast(dev, amp):
            loss = crit(model(x), target)
        loss.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    bare = micro * steps / (time.perf_counter() - t0)
    return {"what": f"{arch}, batch {micro} at {inp} px, loader: {size} px shards, RandAugment + Mixup",
            **describe(dev, amp), "images_per_s": {"synscale_train_loop_with_loader": stats["images_per_second"],
                                                   "bare_loop_in_memory_batch": round(bare, 1)}}


CASES = {"sd15": ("generation", bench_generation),
         "sdxl": ("generation_sdxl", lambda tmp, smoke: bench_modern(tmp, smoke, "sdxl")),
         "flux": ("generation_flux", lambda tmp, smoke: bench_modern(tmp, smoke, "flux")),
         "training": ("training", bench_training)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (CPU check)")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    a = ap.parse_args()
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    if not cases or any(c not in CASES for c in cases):
        ap.error(f"--cases {a.cases!r}: a comma-separated list of {', '.join(CASES)}")
    res = {}
    for c in cases:
        key, fn = CASES[c]
        with tempfile.TemporaryDirectory() as tmp:
            res[key] = fn(Path(tmp), a.smoke)
        print(json.dumps({key: res[key]}), file=sys.stderr, flush=True)   # each case as soon as it is done
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
