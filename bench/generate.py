"""Benchmark: the generate step's images/s (synscale.generate.generate_set: seeded batches through the
pipeline, uint8 conversion, PNG encoding, the shard written atomically) against a bare diffusers loop
(pipe(prompt=batch, ...) on the same prompts, same batches, same steps).

    .venv/bin/python bench/generate.py [--images 64] [--steps 10] [--size 32]

The pipeline is a randomly initialised StableDiffusionPipeline shaped like SD 1.5 (tests/assets.py)
saved with save_pretrained and loaded as the workflow loads real weights (synscale.t2i.load_pipeline,
placed on the job's device). Both run in this process, alternately, best of 3. Goal: ratio >= 0.95.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import ROOT, alternate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=32)
    a = ap.parse_args()
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from support.assets import save_tiny_sd

    from synscale.device import job_device, place, resolve_dtype
    from synscale.t2i.generate import generate_set
    from synscale.t2i.samplers import load_pipeline

    torch.set_num_threads(1)
    prompts = [f"a photo of a digit {i % 10}" for i in range(a.images)]
    labels = [i % 10 for i in range(a.images)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_tiny_sd(tmp / "sd", image_size=a.size)
        dev = job_device()
        pipe = place(load_pipeline(tmp / "sd", "latent_diffusion", dtype=resolve_dtype("float16", dev)), dev)

        def ours():
            t0 = time.perf_counter()
            generate_set(pipe, tmp / "shard.tar", "sd_cfg2_bench", 0, labels, prompts, 2.0, a.steps, a.batch, 0,
                         a.size, 3)
            return time.perf_counter() - t0

        def bare():
            t0 = time.perf_counter()
            for b, lo in enumerate(range(0, a.images, a.batch)):
                gen = torch.Generator().manual_seed(b)
                with torch.no_grad():
                    pipe(prompt=prompts[lo:lo + a.batch], guidance_scale=2.0, num_inference_steps=a.steps,
                         generator=gen, output_type="np")
            return time.perf_counter() - t0

        t_ours, t_bare = alternate(ours, bare)
    ratio = t_bare / t_ours
    print(f"{a.images} images at {a.size} px, {a.steps} steps, batch {a.batch} on {dev}: generate step "
          f"{a.images / t_ours:7.1f} img/s | bare diffusers loop {a.images / t_bare:7.1f} img/s | "
          f"ratio {ratio:.3f} (goal >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'})")


if __name__ == "__main__":
    main()
