"""Benchmark: the generate step's images/s (synscale.t2i.generate.generate_set: seeded batches through the
sampler, uint8 conversion, PNG encoding, the shard written atomically) against a bare diffusers loop
(pipe(prompt=batch, ...) on the same prompts, same batches, same steps, same resolution).

    .venv/bin/python bench/generate.py [--models sd15,sdxl] [--images 64] [--steps 10] [--batch 16] [--size 32]
                                       [--repeats 3]

Cases (``--models``, default ``sd15,sdxl``; ``flux`` on request):

* ``sd15``: a randomly initialised StableDiffusionPipeline shaped like SD 1.5 (tests/support/assets.py),
  loaded as the workflow loads family latent_diffusion (synscale.t2i.samplers.load_pipeline); the bare
  loop calls that same pipeline.
* ``sdxl`` / ``flux``: the tiny SDXL-shaped (classifier-free guidance) or FLUX.1-dev-shaped (distilled
  guidance) pipeline of tests/support/assets_modern.py, loaded as the workflow loads family diffusers
  (load_sampler -> the ``Modern`` sampler, which plans the job's prompts and hands the pipeline cached
  text embeddings); the bare loop calls the underlying diffusers pipeline (``sampler.pipes[0]``) with
  the prompts, at the same height and width.

Prompts repeat as a ``classname`` prompt set's do: one prompt per class, 10 classes, image i of class
i % 10. Each case runs ours and the bare loop in this process, alternately, best of 3
(``_common.alternate``; ``--repeats``). Goal: ratio >= 0.95.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import ROOT, alternate

CLASSES = ("tench", "goldfish", "great white shark", "tiger shark", "hammerhead", "electric ray", "stingray",
           "cock", "hen", "ostrich")
MODERN = {"sdxl": ("cfg", 2.0), "flux": ("distilled", 3.5)}   # case: (models.<name>.guidance, the run's value)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def case_sd15(tmp: Path, a, labels, prompts):
    from support.assets import save_tiny_sd

    from synscale.device import job_device, place, resolve_dtype
    from synscale.t2i.generate import generate_set
    from synscale.t2i.samplers import load_pipeline

    save_tiny_sd(tmp / "sd", image_size=a.size)
    dev = job_device()
    pipe = place(load_pipeline(tmp / "sd", "latent_diffusion", dtype=resolve_dtype("float16", dev)), dev)

    def ours():
        generate_set(pipe, tmp / "sd.tar", "sd_cfg2_bench", 0, labels, prompts, 2.0, a.steps, a.batch, 0, a.size, 3)

    def bare():
        for b, lo in enumerate(range(0, a.images, a.batch)):
            with torch.no_grad():
                pipe(prompt=prompts[lo:lo + a.batch], guidance_scale=2.0, num_inference_steps=a.steps,
                     generator=torch.Generator().manual_seed(b), output_type="np")

    return ("StableDiffusionPipeline (SD-1.5-shaped), family latent_diffusion", dev,
            alternate(lambda: _timed(ours), lambda: _timed(bare), a.repeats))


def case_modern(model: str, tmp: Path, a, labels, prompts):
    from support.assets_modern import save_tiny_flux, save_tiny_sdxl

    from synscale.device import job_device, place, resolve_dtype
    from synscale.t2i.generate import generate_set
    from synscale.t2i.samplers import load_sampler

    guidance_kind, guidance = MODERN[model]
    if model == "sdxl":
        d = save_tiny_sdxl(tmp / model, seed=0, image_size=a.size)
    else:
        d = save_tiny_flux(tmp / model, seed=0, image_size=a.size, variant="dev",
                           words=sorted({w for c in CLASSES for w in f"a photo of a {c}".split()}))
    dev = job_device()
    cfg = {"family": "diffusers", "guidance": guidance_kind, "resolution": a.size, "steps": a.steps}
    sampler = place(load_sampler("diffusers", [d], cfg, name=f"{model}_bench",
                                 dtype=resolve_dtype("float16", dev)), dev)
    pipe = sampler.pipes[0]

    record = {}

    def ours():
        generate_set(sampler, tmp / f"{model}.tar", f"{model}_bench", 0, labels, prompts, guidance, a.steps, a.batch,
                     0, a.size, 3)
        record.update(sampler.describe()["text_embeddings"][0])

    def bare():
        for b, lo in enumerate(range(0, a.images, a.batch)):
            with torch.no_grad():
                pipe(prompt=prompts[lo:lo + a.batch], guidance_scale=guidance, num_inference_steps=a.steps,
                     generator=torch.Generator().manual_seed(b), output_type="np", height=a.size, width=a.size)

    t = alternate(lambda: _timed(ours), lambda: _timed(bare), a.repeats)
    # the sampler's counters add up over the jobs of a process: per job, divide by the repeats
    what = (f"{type(pipe).__name__} ({model.upper()}-shaped, guidance {guidance_kind}), family diffusers; text "
            f"embeddings per job: {record['prompts_distinct']} distinct prompts encoded in "
            f"{record['encoder_calls_here'] // a.repeats} encoder call(s) (bare loop: one per batch)")
    return what, dev, t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="sd15,sdxl", help="comma-separated: sd15, sdxl, flux")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many alternate runs")
    a = ap.parse_args()
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    bad = [m for m in models if m not in ("sd15", *MODERN)]
    if bad:
        ap.error(f"--models: unknown {bad}; use sd15, sdxl, flux")
    sys.path.insert(0, str(ROOT / "tests"))
    torch.set_num_threads(1)
    labels = [i % len(CLASSES) for i in range(a.images)]
    prompts = [f"a photo of a {CLASSES[c]}" for c in labels]
    for m in models:
        with tempfile.TemporaryDirectory() as tmp:
            if m == "sd15":
                what, dev, (t_ours, t_bare) = case_sd15(Path(tmp), a, labels, prompts)
            else:
                what, dev, (t_ours, t_bare) = case_modern(m, Path(tmp), a, labels, prompts)
        ratio = t_bare / t_ours
        print(f"[{m}] {what}\n  {a.images} images at {a.size} px, {a.steps} steps, batch {a.batch}, "
              f"{len(CLASSES)} prompts, on {dev}: generate step {a.images / t_ours:7.1f} img/s | bare diffusers "
              f"loop {a.images / t_bare:7.1f} img/s | ratio {ratio:.3f} "
              f"(goal >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'})", flush=True)


if __name__ == "__main__":
    main()
