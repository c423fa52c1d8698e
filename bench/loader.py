"""Benchmark: the shard reader's images/s against decoding the same encoded bytes from memory and
against reading the same images from a folder of PNG files, at 16 px and 256 px RGB.

    .venv/bin/python bench/loader.py [--n16 8000] [--n256 800]

All three decode with the same function (PIL, to a uint8 array) in one process and deliver the
decoded images in batches of 256 (a list per batch, dropped when the next begins), as a loader
must; the reader is the training/evaluation loader's dataset (synscale.loader.ShardStream) reading
webdataset shards of 500. Goals: reader >= 0.8x in-memory decoding and >= 1x the PNG folder, at
both sizes.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import best_of, images, write_shards

BATCH = 256


def run(n: int, size: int, tmp: Path) -> tuple[float, float, float]:
    from synscale.data.loader import ShardPart, ShardStream
    from synscale.data.shards import decode_pil, iter_shard

    imgs = images(n, size)
    shards = write_shards(tmp / f"s{size}", imgs, 500)
    encoded = [b for p in shards for _, b, _, _ in iter_shard(p)]
    folder = tmp / f"png{size}"
    folder.mkdir()
    for i, b in enumerate(encoded):
        (folder / f"{i:09d}.png").write_bytes(b)
    files = sorted(folder.iterdir())

    def decode(b):
        return np.asarray(decode_pil(b, "memory", "k", None, 3))

    def reader():
        ds = ShardStream([ShardPart(p) for p in shards], BATCH, None, 3)
        got = sum(len(y) for _, y in ds)
        assert got == n

    def memory():
        batch = []
        for b in encoded:
            if len(batch) == BATCH:
                batch = []
            batch.append(decode(b))

    def png_folder():
        batch = []
        for f in files:
            if len(batch) == BATCH:
                batch = []
            batch.append(decode(f.read_bytes()))

    t_reader, t_mem, t_png = best_of(reader), best_of(memory), best_of(png_folder)
    return n / t_reader, n / t_mem, n / t_png


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n16", type=int, default=8000)
    ap.add_argument("--n256", type=int, default=800)
    a = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for size, n in ((16, a.n16), (256, a.n256)):
            r, m, p = run(n, size, Path(tmp))
            ok &= r >= 0.8 * m and r >= p
            print(f"{size:3d} px RGB, {n} images: reader {r:8.0f} img/s | in-memory decode {m:8.0f} img/s "
                  f"(ratio {r / m:.2f}, goal >= 0.8) | PNG folder {p:8.0f} img/s (ratio {r / p:.2f}, goal >= 1)")
    print("goals", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
