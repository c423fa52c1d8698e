"""Where a job's models run, in which dtype: the one place every GPU-requesting step asks.

A job runs on the first GPU it sees (SLURM and torchrun restrict what it sees through
``CUDA_VISIBLE_DEVICES`` and ``LOCAL_RANK``), or on the CPU when it sees none. The config names a
dtype (float16 / bfloat16 for diffusion sampling, an autocast dtype for classifiers); on the CPU
everything runs in float32, so CPU results stay exact and reproducible. What was used is recorded
(``describe``) in every manifest and JSON the job writes.
"""
from __future__ import annotations

import contextlib
import os

import torch

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def job_device() -> torch.device:
    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        return torch.device("cuda", local % torch.cuda.device_count())
    return torch.device("cpu")


def resolve_dtype(name: str | None, device: torch.device) -> torch.dtype:
    """The dtype to run in: the configured one on a GPU, float32 on the CPU."""
    if device.type != "cuda" or name in (None, "float32"):
        return torch.float32
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"dtype {name!r}: use one of {sorted(DTYPES)}") from None


def enable_fast_kernels(device: torch.device) -> None:
    """PyTorch's fused scaled-dot-product attention (flash / memory-efficient kernels), which
    diffusers (AttnProcessor2_0) and timm (fused_attn) call, and TF32 matmuls on GPUs."""
    if device.type == "cuda":
        torch.backends.cuda.enable_flash_sdp(True)
        torch.backends.cuda.enable_mem_efficient_sdp(True)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def place(model, device: torch.device, dtype: torch.dtype | None = None):
    """Move a torch module or a diffusers pipeline to ``device`` (and ``dtype``), enable fused
    attention, and return it."""
    enable_fast_kernels(device)
    if dtype is not None:
        model = model.to(device=device, dtype=dtype)
    else:
        model = model.to(device)
    return model


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed precision for a classifier's forward pass on a GPU; nothing on the CPU."""
    if device.type == "cuda" and dtype != torch.float32:
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def describe(device: torch.device, dtype: torch.dtype) -> dict:
    out = {"device": str(device), "dtype": str(dtype).replace("torch.", ""),
           "attention": "torch.nn.functional.scaled_dot_product_attention"}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def work_record(unit: str, amount: int, seconds: float, dev: dict, gpus: int = 1, **extra) -> dict:
    """A job's ``work`` block for the cost ledger (``synscale.ops.ledger``): ``amount`` ``unit``
    (images generated or scored, samples trained on) in ``seconds`` on ``gpus`` devices of the model
    ``describe`` named in ``dev`` ("cpu" without one), the throughput, and ``extra`` facts the cost
    model matches on (steps, resolution, arch)."""
    return {"unit": unit, "amount": int(amount), "seconds": round(float(seconds), 3),
            "per_second": round(amount / max(float(seconds), 1e-9), 3), "gpus": int(gpus),
            "gpu_model": dev.get("gpu") or "cpu", **extra}
