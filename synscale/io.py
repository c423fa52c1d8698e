"""Atomic file writing and small JSON helpers.

Every output of the workflow is written to a temporary name in the same directory,
flushed and fsynced, then renamed onto its final name, so a killed job never leaves a
half-written file under a final name.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

PARTIAL_MARK = ".partial-"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_partials(final: str | os.PathLike) -> int:
    """Delete leftovers of earlier killed writes of ``final``; returns how many."""
    final = Path(final)
    n = 0
    if final.parent.is_dir():
        for p in final.parent.glob(f".{final.name}{PARTIAL_MARK}*"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            n += 1
    return n


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on success rename it onto ``final``.

    On any exception the temporary file or directory is removed and ``final`` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(final)
    tmp = final.parent / f".{final.name}{PARTIAL_MARK}{os.getpid()}"
    if is_dir:
        tmp.mkdir()
    try:
        yield tmp
        if not is_dir:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        if is_dir and final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(final: str | os.PathLike, data: bytes) -> None:
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def atomic_write_text(final: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(final, text.encode("utf-8"))


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def write_json(final: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(final, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found; build it with snakemake first") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); delete it and re-run snakemake to rebuild it") from None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def save_figure(fig, final: str | os.PathLike, dpi: float | None = None) -> None:
    """Save a matplotlib figure as PNG atomically (never a half-written image under the final
    name) and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(final) as tmp:
        fig.savefig(tmp, format="png", **({"dpi": dpi} if dpi else {}))
    plt.close(fig)


def _plain(obj: Any) -> Any:
    """``obj`` with every dict subclass but OrderedDict (a state dict) made a dict, recursively: a
    job's config slice (``synscale.config.declared``) in a checkpoint's metadata is stored as the
    plain values ``load_tensors`` accepts."""
    import collections

    if isinstance(obj, dict):
        kind = type(obj) if type(obj) in (dict, collections.OrderedDict) else dict
        return kind((k, _plain(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj) if type(obj) in (list, tuple) else obj
    return obj


def save_tensors(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` of tensors and plain values, the counterpart of ``load_tensors`` (write it to
    a temporary name from ``atomic_path``)."""
    import torch

    torch.save(_plain(obj), path)


def load_tensors(path: str | os.PathLike, what: str, mmap: bool = False) -> Any:
    """A torch file of tensors and plain values (weights, features, a checkpoint) loaded with
    ``weights_only=True``: a pickle that would run code is refused, never executed. An unreadable
    or refused file is a ValueError naming it and ``what`` it should have been."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise
    except Exception as e:  # cut short, garbage, or code torch refused to unpickle
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{path}: not a {what} this workflow can read safely ({first[:200]}); tensors and plain "
                         "values only, never pickled code: delete it and let snakemake rebuild it") from None
