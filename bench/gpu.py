"""GPU benchmark at real size: SD-1.5-shaped generation at 512 px in fp16 and ViT-B/16 training at 224
with the real loader, each beside its bare baseline; prints images/s.

    bash bench/gpu.sh            # on a GPU machine
    .venv/bin/python bench/gpu.py --smoke   # tiny sizes, any machine (checks the script runs)

Weights are random (no hub access): the UNet, VAE and text encoder have Stable Diffusion 1.5's
shapes, so the compute per image is SD 1.5's. Training streams synthetic 256 px shards through
synscale.loader with RandAugment and Mixup, Table A1's recipe on one GPU (bf16 autocast).
"""
from __future__ import annotations

import argparse
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

    bare()  # warm-up (kernels, allocator)
    out = {}
    for name, fn in (("bare_diffusers", bare), ("synscale_generate", ours)):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        out[name] = round(n / (time.perf_counter() - t0), 3)
    return {"what": f"SD-1.5-shaped pipeline, {size} px, {steps} steps, batch {batch}", **describe(dev, dtype),
            "images_per_s": out}


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (CPU check)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        res = {"generation": bench_generation(Path(tmp), a.smoke), "training": bench_training(Path(tmp), a.smoke)}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
