"""Launching a training job on ``nodes x gpus`` processes with torchrun's rendezvous.

The rule's job process (Snakemake's script) writes the job's spec to a JSON file beside its
outputs and starts the workers:

* 1 process: in-process, no launcher, no spec file;
* 1 node, G processes: ``python -m torch.distributed.run --standalone --nproc-per-node G``;
* N nodes: ``srun --nodes N --ntasks-per-node 1`` runs one ``torch.distributed.run`` per node,
  meeting at a c10d rendezvous on the allocation's first node (``SLURM_JOB_NODELIST``).

Workers run ``python -m synscale.train.launch SPEC``: a fresh interpreter that imports the package,
never the rule's script (so no ``snakemake`` object is needed there). NCCL on GPUs, gloo on CPUs.
Worker output is forwarded line by line into the job's log.

Signals (``synscale.train.preempt``): torchrun is started with SIGUSR1 ignored (across nodes, by
``trap '' USR1`` in the command srun runs), so SLURM's warning, sent to every process of the job,
reaches the workers' training loops and does not end torchrun. A SIGUSR1 or SIGTERM that reaches
only the launching process is passed on to torchrun's workers. When the workers stopped on a signal
with their resume checkpoint written, the launcher exits with their status, ``PREEMPTED``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from synscale.train.preempt import MARK, PREEMPTED, SIGNALS, Preempted, ignore_warning

log = logging.getLogger("synscale")

#: the module each worker process runs (``python -m WORKER_MODULE SPEC``): this one
WORKER_MODULE = __spec__.name if __spec__ is not None and __name__ == "__main__" else __name__


def command(spec: str | Path, nodes: int, gpus: int, env: dict | None = None) -> list[str]:
    env = os.environ if env is None else env
    worker = ["-m", WORKER_MODULE, str(spec)]
    if nodes == 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
                f"--nproc-per-node={gpus}", *worker]
    if "SLURM_JOB_ID" not in env:
        raise RuntimeError(f"classifier.nodes={nodes}: multi-node training runs under SLURM (srun); "
                           "this job is not in a SLURM allocation. Run it with the slurm profile, or "
                           "set classifier.nodes: 1")
    head = subprocess.run(["scontrol", "show", "hostnames", env["SLURM_JOB_NODELIST"]], check=True,
                          capture_output=True, text=True).stdout.split()[0]
    port = 29500 + int(env["SLURM_JOB_ID"]) % 1000
    return ["srun", f"--nodes={nodes}", f"--ntasks={nodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
            "sh", "-c", "trap '' USR1; exec \"$@\"", "sh",  # the warning ignored by torchrun, not by its workers
            sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes}", f"--nproc-per-node={gpus}",
            "--rdzv-backend=c10d", f"--rdzv-endpoint={head}:{port}", f"--rdzv-id={env['SLURM_JOB_ID']}",
            *worker]


def entry(spec: dict):
    """The function a spec's processes run: ``spec['entry']`` ('module:function', always given by
    the step that launches), called as ``f(rank, world, spec)``."""
    import importlib

    if "entry" not in spec:
        raise ValueError("a launch spec names its entry ('module:function')")
    module, _, name = spec["entry"].partition(":")
    if not module.startswith("synscale."):
        raise ValueError(f"training entry {spec['entry']!r} is not a synscale function")
    return getattr(importlib.import_module(module), name)


def launch(spec: dict, spec_path: str | Path, nodes: int, gpus: int, threads_per_process: int = 1) -> None:
    """Run the training job described by ``spec`` on ``nodes x gpus`` processes: in this process
    when that is one, else through torchrun with the spec written to ``spec_path`` for the workers."""
    from synscale.io import atomic_path

    if nodes * gpus == 1:
        entry(spec)(0, 1, spec)
        return
    spec_path = Path(spec_path)
    with atomic_path(spec_path) as tmp:
        Path(tmp).write_text(json.dumps(spec))
    try:
        cmd = command(spec_path, nodes, gpus)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads_per_process), "PYTHONUNBUFFERED": "1"}
        log.info("launching %d x %d processes: %s", nodes, gpus, " ".join(cmd))
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=ignore_warning)
        tail: list[str] = []
        stopped = False
        with forward_signals(proc):
            for line in proc.stdout:
                line = line.rstrip()
                log.info("| %s", line)
                tail = (tail + [line])[-20:]
                stopped = stopped or MARK in line
            code = proc.wait()
        if code and stopped:
            log.warning("training workers %s; exiting with status %d", MARK, PREEMPTED)
            raise Preempted(-1)
        if code:
            raise RuntimeError(f"training workers exited with status {proc.returncode}; last lines:\n"
                               + "\n".join(tail))
    finally:
        spec_path.unlink(missing_ok=True)


@contextlib.contextmanager
def forward_signals(proc: subprocess.Popen):
    """While the block runs, SIGUSR1 and SIGTERM to this process go on to every process below
    ``proc`` (torchrun ignores SIGUSR1; training workers stop at the end of their step, others end
    on SIGTERM). Off the main thread the signals keep their handlers."""
    import psutil

    def forward(signum, frame):
        try:
            below = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            return
        for p in below:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, forward) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def worker(spec_path: str | Path) -> None:
    """One of the processes torchrun started: join its process group and train."""
    import torch
    import torch.distributed as dist

    from synscale.device import job_device

    spec = json.loads(Path(spec_path).read_text())
    device = job_device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.set_num_threads(max(1, int(spec["threads"])))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        entry(spec)(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), spec)
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    from synscale.logs import setup

    setup(None)
    worker(sys.argv[1])
