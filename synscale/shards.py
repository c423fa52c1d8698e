"""Webdataset shards: deterministic tar writing, validated reading, manifests.

Reading is our own (not ``webdataset.WebDataset``) because every failure must name the shard,
the sample and the fix, and a shard is checked as a whole (layout, decodable images, one size);
the webdataset pipeline reports such problems as bare exceptions from deep in its iterators.

A shard is a POSIX tar holding, for each sample ``key``, the members ``key.png``
(the image), ``key.cls`` (the class index, ASCII) and ``key.txt`` (the prompt or caption),
which is the layout ``webdataset.WebDataset`` and open_clip's ``--train-data`` read.
Tar headers carry fixed metadata (mtime 0, uid 0, ...) so a shard is a pure function of its
samples: rebuilding it gives the same bytes.
"""
from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from .io import atomic_path, sha256_file, write_json


@dataclass
class Sample:
    key: str
    image: np.ndarray  # uint8, HxW (grey) or HxWx3
    label: int
    text: str = ""


@dataclass
class ShardData:
    keys: list[str]
    images: np.ndarray  # uint8 N x H x W x C
    labels: np.ndarray  # int64 N
    texts: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)


def encode_png(image: np.ndarray) -> bytes:
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def write_shard(path: str | Path, samples: Iterable[Sample]) -> int:
    """Write samples atomically to ``path`` with webdataset's TarWriter (fixed mtime, owner and
    mode, so the bytes depend only on the samples); returns the number written."""
    from webdataset import TarWriter

    n = 0
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh, TarWriter(fh, user="", group="", mode=0o644, encoder=False, mtime=0) as tar:
            for s in samples:
                if "." in s.key or "/" in s.key:
                    raise ValueError(f"sample key {s.key!r} must not contain '.' or '/'")
                tar.write({"__key__": s.key, "png": encode_png(s.image), "cls": str(int(s.label)).encode(),
                           "txt": s.text.encode("utf-8")})
                n += 1
    return n


class CorruptShardError(ValueError):
    pass


def _corrupt(path: Path, why: str) -> CorruptShardError:
    return CorruptShardError(
        f"{path}: corrupt or unreadable shard ({why}). Delete it and re-run snakemake; "
        "the workflow regenerates exactly this shard."
    )


def iter_shard(path: str | Path) -> Iterator[tuple[str, bytes, int, str]]:
    """Yield (key, png_bytes, label, text) per sample, validating the layout."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: shard not found; build it with snakemake")
    try:
        tar = tarfile.open(path, "r")
    except (tarfile.TarError, OSError) as e:
        raise _corrupt(path, str(e)) from None
    cur: dict[str, dict[str, bytes]] = {}
    order: list[str] = []
    try:
        with tar:
            for m in tar:
                if not m.isfile():
                    continue
                base = m.name.rsplit("/", 1)[-1]
                if "." not in base:
                    raise _corrupt(path, f"member {m.name!r} has no extension")
                key, ext = base.split(".", 1)
                fh = tar.extractfile(m)
                data = fh.read() if fh is not None else b""
                if key not in cur:
                    cur[key] = {}
                    order.append(key)
                cur[key][ext] = data
    except (tarfile.TarError, OSError, EOFError) as e:
        raise _corrupt(path, str(e)) from None
    for key in order:
        d = cur[key]
        img = d.get("png", d.get("jpg", d.get("jpeg")))
        if img is None or "cls" not in d:
            raise _corrupt(path, f"sample {key!r} lacks an image or a .cls member")
        try:
            label = int(d["cls"].decode().strip())
        except ValueError:
            raise _corrupt(path, f"sample {key!r} has a non-integer class {d['cls'][:20]!r}") from None
        yield key, img, label, d.get("txt", b"").decode("utf-8")


def decode_image(data: bytes, path: Path | str, key: str, size: int | None, channels: int) -> np.ndarray:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as e:  # PIL raises many types
        raise _corrupt(Path(path), f"sample {key!r}: image does not decode ({e})") from None
    img = img.convert("L" if channels == 1 else "RGB")
    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC)
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr


def read_shard(path: str | Path, size: int | None = None, channels: int = 1) -> ShardData:
    keys, imgs, labels, texts = [], [], [], []
    for key, data, label, text in iter_shard(path):
        keys.append(key)
        imgs.append(decode_image(data, path, key, size, channels))
        labels.append(label)
        texts.append(text)
    if not keys:
        raise _corrupt(Path(path), "no samples")
    shapes = {im.shape for im in imgs}
    if len(shapes) != 1:
        raise _corrupt(Path(path), f"images of different sizes {sorted(shapes)}; set data.image_size")
    return ShardData(keys, np.stack(imgs), np.asarray(labels, dtype=np.int64), texts)


def read_shards(paths: Sequence[str | Path], limit: int | None = None, size: int | None = None,
                channels: int = 1) -> ShardData:
    """Read shards in order and keep the first ``limit`` samples."""
    parts: list[ShardData] = []
    total = 0
    for p in paths:
        if limit is not None and total >= limit:
            break
        sd = read_shard(p, size=size, channels=channels)
        parts.append(sd)
        total += len(sd)
    if not parts:
        raise ValueError("no shards given")
    keys = [k for p in parts for k in p.keys]
    images = np.concatenate([p.images for p in parts])
    labels = np.concatenate([p.labels for p in parts])
    texts = [t for p in parts for t in p.texts]
    if limit is not None:
        if total < limit:
            raise ValueError(f"asked for {limit} samples but the shards {list(map(str, paths))} hold {total}")
        keys, images, labels, texts = keys[:limit], images[:limit], labels[:limit], texts[:limit]
    return ShardData(keys, images, labels, texts)


def write_manifest(shard_path: str | Path, manifest_path: str | Path, **extra) -> dict:
    """Describe a written shard: sample count, sha256, per-class counts, plus ``extra``."""
    shard_path = Path(shard_path)
    labels, prompts = [], []
    for _, _, label, text in iter_shard(shard_path):
        labels.append(label)
        prompts.append(text)
    counts = {str(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))}
    man = {
        "shard": shard_path.name,
        "count": len(labels),
        "bytes": shard_path.stat().st_size,
        "sha256": sha256_file(shard_path),
        "class_counts": counts,
        **extra,
    }
    write_json(manifest_path, man)
    return man


def verify_manifest(shard_path: str | Path, manifest_path: str | Path) -> None:
    man = json.loads(Path(manifest_path).read_text())
    digest = sha256_file(shard_path)
    if digest != man["sha256"]:
        raise _corrupt(Path(shard_path), f"sha256 {digest[:12]} does not match its manifest {manifest_path}")
