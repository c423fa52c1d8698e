"""Generation of synthetic image shards: each shard is a pure function of
(run, shard index, seed), so scales nest and a rebuilt shard has the same bytes.

Image ``g`` of a run (global index over all its shards) has class ``g % C``; scale D uses
the first D images, i.e. shards ``0 .. ceil(D / shard_size) - 1``.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from synscale.data.shards import Sample, write_shard
from synscale.seeds import seed_for

log = logging.getLogger(__name__)


def shard_labels(shard: int, shard_size: int, num_classes: int) -> np.ndarray:
    g = np.arange(shard * shard_size, (shard + 1) * shard_size)
    return g % num_classes


def testset_labels(per_class: int, num_classes: int) -> np.ndarray:
    return np.arange(per_class * num_classes) % num_classes


def _to_uint8(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Pipeline output (N x H x W x C floats in [0, 1]) -> uint8 N x size x size x channels."""
    arr = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
    if arr.shape[1] == size and arr.shape[3] == channels:
        return arr
    out = []
    for im in arr:
        pil = Image.fromarray(im[:, :, 0] if im.shape[2] == 1 else im)
        pil = pil.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BICUBIC)
        a = np.asarray(pil)
        out.append(a[:, :, None] if a.ndim == 2 else a)
    return np.stack(out)


def sample_images(pipe, prompts: Sequence[str], guidance: float, steps: int, batch_size: int,
                  seed_parts: tuple, size: int, channels: int,
                  progress: Callable[[int, int], None] | None = None,
                  batches: Sequence[int] | None = None) -> np.ndarray:
    """Sample one image per prompt. Batch b draws its noise from a generator seeded by
    (seed_parts, b), so the result does not depend on anything outside the arguments.
    ``batches``: sample only these batch indices (one process's part of a multi-GPU job)."""
    out = []
    starts = list(range(0, len(prompts), batch_size))
    planned = hasattr(pipe, "plan_prompts")   # a sampler of synscale.t2i (not a bare pipeline)
    if planned:
        pipe.plan_prompts(list(prompts), batch_size)
    for b in (range(len(starts)) if batches is None else batches):
        lo = starts[b]
        batch = list(prompts[lo:lo + batch_size])
        gen = torch.Generator().manual_seed(seed_for(*seed_parts, "batch", b))
        with torch.no_grad():
            res = pipe(prompt=batch, guidance_scale=float(guidance), num_inference_steps=steps,
                       generator=gen, output_type="np", **({"batch_index": b} if planned else {}))
        out.append(_to_uint8(np.asarray(res.images), size, channels))
        if progress:
            progress(lo + len(batch), len(prompts))
    return np.concatenate(out)


def generate_set(pipe, out_tar: str | Path, run: str, shard: int | str, labels: np.ndarray,
                 prompts: Sequence[str], guidance: float, steps: int, batch_size: int, seed: int,
                 size: int, channels: int, key_offset: int = 0,
                 progress: Callable[[int, int], None] | None = None, keys: Sequence[str] | None = None,
                 images: np.ndarray | None = None, offsets: list[int] | None = None) -> dict:
    """``keys``: the samples' keys (a caption dataset's twins keep their captions' keys); by default
    ``{run}-{key_offset + i}``. ``images``: already sampled (by a multi-GPU job's processes)."""
    t0 = time.time()
    if images is None:
        images = sample_images(pipe, prompts, guidance, steps, batch_size, (seed, run, shard), size, channels,
                               progress)
    if keys is None:
        keys = [f"{run.replace('.', 'p')}-{key_offset + i:09d}" for i in range(len(labels))]
    samples = (Sample(keys[i], images[i], int(labels[i]), prompts[i]) for i in range(len(labels)))
    n = write_shard(out_tar, samples, offsets=offsets)
    return {"count": n, "seed": seed_for(seed, run, shard, "batch", 0), "global_seed": seed,
            "prompts_used": dict(sorted(Counter(prompts).items())), "distinct_prompts": len(set(prompts)),
            "guidance_scale": guidance, "steps": steps, "batch_size": batch_size,
            "seconds": round(time.time() - t0, 2)}
