"""Classifier architectures checked before any job: each timm model is built on PyTorch's meta
device (no memory, no weights) and one image of its input size pushed through. Passed checks are
cached on disk per timm and torch version, so dry runs of the grid do not repeat them."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..io import atomic_path
from .checks import _image_size_errors
from .recipes import model_kwargs
from .runs import run_classifier

_MODEL_CHECKS: dict = {}


def _timm_error(key: str, arch: str, kwargs: dict, channels: int, size: int) -> str | None:
    """Build the timm model on the meta device (no memory, no weights) and push one image of the
    configured size through it: a wrong arch name, a typo in kwargs or an image size the model
    does not take is found before any job runs."""
    from importlib.metadata import version

    sig = (arch, json.dumps(kwargs, sort_keys=True), channels, size)
    if sig in _MODEL_CHECKS:
        return _MODEL_CHECKS[sig] and _MODEL_CHECKS[sig].replace("@KEY@", key)
    disk_key = json.dumps([*sig, version("timm"), version("torch")])
    if disk_key in _passed_model_checks():  # built and run before with these versions: it still fits
        _MODEL_CHECKS[sig] = None
        return None
    import timm
    import torch

    msg = None
    try:
        with torch.device("meta"):
            model = timm.create_model(arch, pretrained=False, num_classes=2, in_chans=channels, **kwargs)
            try:
                model.eval()(torch.empty(1, channels, size, size))
            except Exception as e:  # the forward pass raises what the model raises
                msg = (f"config keys '@KEY@.input_size' and '@KEY@.kwargs': a {size}x{size} image does not fit "
                       f"{arch} with kwargs {kwargs} ({e}); set @KEY@.kwargs.img_size to @KEY@.input_size or "
                       "pick another model")
    except RuntimeError as e:
        if "Unknown model" in str(e):
            msg = f"config key '@KEY@.arch': timm has no model {arch!r}; see timm.list_models()"
        else:
            msg = f"config key '@KEY@.kwargs': timm cannot build {arch} with {kwargs}: {e}"
    except TypeError as e:
        msg = f"config key '@KEY@.kwargs': {arch} does not take these keyword arguments ({e})"
    _MODEL_CHECKS[sig] = msg
    if msg is None:
        _remember_model_check(disk_key)
    return msg and msg.replace("@KEY@", key)


def _model_check_cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "synscale" / "model-checks.json"


def _passed_model_checks() -> set:
    """Model checks that passed before (arch, kwargs, channels, size, timm and torch versions):
    building ViT-B/L on the meta device takes seconds, and a dry run of the grid repeats it."""
    try:
        return set(json.loads(_model_check_cache().read_text()))
    except (OSError, ValueError):
        return set()


def _remember_model_check(disk_key: str) -> None:
    path = _model_check_cache()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(_passed_model_checks() | {disk_key})
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(keys))
    except OSError:  # a read-only home: checks just run every time
        pass


def model_errors(cfg: dict) -> list[str]:
    errs = _image_size_errors(cfg)
    d = cfg["data"]
    checks = [(key, cfg[key]) for key in ("classifier", "reference_classifier")]
    checks += [(f"runs[{i}].classifier", run_classifier(cfg["classifier"], r["classifier"]))
               for i, r in enumerate(cfg["runs"]) if r.get("classifier")]
    for key, m in checks:
        kw = model_kwargs(m["arch"], m) if key != "reference_classifier" else m["kwargs"]
        err = _timm_error(key, m["arch"], kw, d["channels"], m["input_size"])
        if err:
            errs.append(err)
    return errs


