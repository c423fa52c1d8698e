"""Webdataset shards: deterministic tar writing, validated reading, manifests.

Reading is our own (not ``webdataset.WebDataset``) because every failure must name the shard,
the sample and the fix (the webdataset pipeline reports such problems as bare exceptions from deep
in its iterators), and because per-sample overhead must stay below the cost of decoding a small
image (``bench/loader.py``). Training and evaluation stream shards through ``synscale.loader``.

A shard is a POSIX tar holding, for each sample ``key``, the members ``key.png``
(the image), ``key.cls`` (the class index, ASCII) and ``key.txt`` (the prompt or caption),
which is the layout ``webdataset.WebDataset`` and open_clip's ``--train-data`` read.
Tar headers carry fixed metadata (mtime 0, uid 0, ...) so a shard is a pure function of its
samples: rebuilding it gives the same bytes.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from synscale.io import atomic_path, sha256_file, write_json


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


def write_shard(path: str | Path, samples: Iterable[Sample], offsets: list[int] | None = None) -> int:
    """Write samples atomically to ``path`` with webdataset's TarWriter (fixed mtime, owner and
    mode, so the bytes depend only on the samples); returns the number written. ``offsets``: a
    list that receives each sample's byte offset (where ``iter_samples(path, start=...)`` reads it)."""
    from webdataset import TarWriter

    n = 0
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh, TarWriter(fh, user="", group="", mode=0o644, encoder=False, mtime=0) as tar:
            for s in samples:
                if "." in s.key or "/" in s.key:
                    raise ValueError(f"sample key {s.key!r} must not contain '.' or '/'")
                if offsets is not None:  # the archive's position (its stream buffers what fh has not seen)
                    offsets.append(tar.tarstream.offset)
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


_ZERO_BLOCK = bytes(512)
_REGULAR = (0, 48, 55)  # '\0', '0', '7' (contiguous file)


def _octal(field: bytes, path: Path) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 for sizes >= 8 GiB
        return int.from_bytes(field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip()
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise _corrupt(path, f"tar header with a bad size field {field!r}") from None


def _pax_path(data: bytes) -> str | None:
    """The 'path' record of a pax extended header, if any."""
    i = 0
    while i < len(data):
        sp = data.find(b" ", i)
        if sp < 0:
            break
        n = int(data[i:sp])
        rec = data[sp + 1:i + n - 1]
        if rec.startswith(b"path="):
            return rec[5:].decode("utf-8")
        i += n
    return None


def iter_members(path: str | Path, chunk: int = 1 << 22, start: int = 0) -> Iterator[tuple[str, bytes]]:
    """Yield (member name, bytes) of every regular file in a tar, in order, from byte offset
    ``start`` on (a member's header, e.g. one recorded by ``write_shard``'s ``offsets``).

    A lean streaming ustar/pax/GNU reader (our own, rather than ``tarfile``): small members are
    parsed out of chunks of ``chunk`` bytes, so the per-member overhead stays far below the cost of
    decoding a small image (``tarfile`` builds a TarInfo object per member and costs more than
    decoding a 16 px PNG); a member that runs past the chunk is read straight from the file into
    its own bytes, one copy, like reading a file of its own. Memory stays at one chunk or member."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: shard not found; build it with snakemake")
    long_name: str | None = None
    with open(path, "rb", buffering=0) as fh:
        fh.seek(start)
        buf, pos, base = fh.read(chunk), 0, start  # buf holds the file's bytes from offset base on
        while True:
            if len(buf) - pos < 512:
                base += pos
                buf, pos = buf[pos:] + fh.read(chunk), 0
                if len(buf) < 512:
                    if not buf:
                        return  # no end-of-archive blocks: accepted, as tarfile does
                    raise _corrupt(path, "truncated tar header")
            if buf[pos] == 0 and buf[pos:pos + 512] == _ZERO_BLOCK:
                return
            field = buf[pos + 124:pos + 136]
            try:
                size = int(field[:11], 8) if field[11] == 0 else _octal(field, path)
            except ValueError:
                size = _octal(field, path)
            if buf[pos + 257:pos + 262] != b"ustar" and buf[pos + 148:pos + 156].strip(b" \0") == b"":
                raise _corrupt(path, "not a tar archive")
            typ = buf[pos + 156]
            name = None
            if typ in _REGULAR:
                if long_name is not None:
                    name, long_name = long_name, None
                else:
                    name = buf[pos:pos + 100].split(b"\0", 1)[0].decode("utf-8")
                    if buf[pos + 345] != 0 and buf[pos + 257:pos + 262] == b"ustar":
                        name = buf[pos + 345:pos + 500].split(b"\0", 1)[0].decode("utf-8") + "/" + name
            start, padded = pos + 512, size + (-size % 512)
            if start + size <= len(buf):
                data = buf[start:start + size]
                pos = start + padded
                if pos > len(buf):  # the padding runs past the chunk
                    fh.seek(pos - len(buf), 1)
                    base, buf, pos = base + pos, b"", 0
            else:  # the member runs past the chunk: read it from the file, then the next header
                fh.seek(base + start)
                data = fh.read(size)
                if len(data) < size:
                    raise _corrupt(path, "truncated member")
                base += start + padded
                fh.seek(base)
                buf, pos = fh.read(4096), 0
            if name is not None:
                yield name, data
            elif typ == 76:  # 'L': GNU long name of the next member
                long_name = data.split(b"\0", 1)[0].decode("utf-8")
            elif typ == 120:  # 'x': pax header of the next member
                long_name = _pax_path(data) or long_name
            # directories, links, global pax headers ('g'): skipped


def iter_samples(path: str | Path, start: int = 0) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Group consecutive members by key (the file name up to its first dot), as webdataset does;
    from byte offset ``start`` on."""
    path = Path(path)
    key, parts = None, {}
    for name, data in iter_members(path, start=start):
        slash = name.rfind("/")
        dot = name.find(".", slash + 1)
        if dot <= slash + 1:
            raise _corrupt(path, f"member {name!r} has no extension")
        k = name[slash + 1:dot]
        if k != key:
            if key is not None:
                yield key, parts
            key, parts = k, {}
        parts[name[dot + 1:]] = data
    if key is not None:
        yield key, parts


def image_member(d: dict[str, bytes]) -> bytes | None:
    """A sample's image bytes (png, jpg, jpeg or webp member), or None."""
    return d.get("png") or d.get("jpg") or d.get("jpeg") or d.get("webp")


def unpack_sample(path: str | Path, key: str, d: dict[str, bytes]) -> tuple[bytes, int, str]:
    """(image bytes, label, text) of a sample, checked."""
    img = image_member(d)
    cls = d.get("cls")
    if img is None or cls is None:
        raise _corrupt(Path(path), f"sample {key!r} lacks an image or a .cls member")
    try:
        label = int(cls)
    except ValueError:
        raise _corrupt(Path(path), f"sample {key!r} has a non-integer class {cls[:20]!r}") from None
    txt = d.get("txt")
    return img, label, txt.decode("utf-8") if txt else ""


def iter_shard(path: str | Path, start: int = 0) -> Iterator[tuple[str, bytes, int, str]]:
    """Yield (key, image bytes, label, text) per sample, validating the layout; from byte offset
    ``start`` on."""
    for key, d in iter_samples(path, start=start):
        yield key, *unpack_sample(path, key, d)


def decode_pil(data: bytes, path: Path | str, key: str, size: int | None, channels: int):
    """A PIL image in mode L (channels 1) or RGB, resized to ``size`` x ``size`` when it differs."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as e:  # PIL raises many types
        raise _corrupt(Path(path), f"sample {key!r}: image does not decode ({e})") from None
    mode = "L" if channels == 1 else "RGB"
    if img.mode != mode:
        img = img.convert(mode)
    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC)
    return img


def decode_image(data: bytes, path: Path | str, key: str, size: int | None, channels: int) -> np.ndarray:
    """uint8 H x W x C array."""
    arr = np.asarray(decode_pil(data, path, key, size, channels), dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


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
