"""Launching N training processes inside one allocation (one per GPU, or CPU processes with gloo).

``run(fn, world_size, *args)`` spawns ``world_size`` processes that call ``fn(rank, world_size,
*args)`` with torch.distributed initialised (NCCL on GPUs, gloo on CPUs) through a rendezvous file
in a private temporary directory, so concurrent jobs on one node never collide on a port.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

import torch


def device_for(rank: int) -> torch.device:
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        return torch.device("cuda", rank % n)
    return torch.device("cpu")


def _entry(rank: int, world_size: int, init_file: str, threads: int, fn: Callable, args: tuple) -> None:
    import torch.distributed as dist

    torch.set_num_threads(max(1, threads))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(device_for(rank))
    dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        fn(rank, world_size, *args)
    finally:
        dist.barrier()
        dist.destroy_process_group()


def run(fn: Callable[..., Any], world_size: int, *args: Any, threads_per_process: int = 1) -> None:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` processes; rank 0 writes outputs."""
    if world_size == 1:
        fn(0, 1, *args)
        return
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="synscale-ddp-") as tmp:
        init_file = os.path.join(tmp, "rendezvous")
        mp.spawn(_entry, args=(world_size, init_file, threads_per_process, fn, args), nprocs=world_size,
                 join=True)
