"""Stopping a training job cleanly before the cluster ends it.

On a SLURM cluster the profile (profiles/slurm) asks for SIGUSR1 some minutes before a training
job's time limit (``--signal=USR1@<seconds>``), and SLURM sends SIGTERM when it preempts or
cancels a job, or at the limit itself. A training loop run inside ``stop_on_signals`` notes either
signal, finishes the step it is in, writes its resume checkpoint atomically and exits with status
``PREEMPTED`` (75, ``EX_TEMPFAIL``); Snakemake's retry of the job continues from that checkpoint.
With several processes they agree on the step to stop at (an all-reduce of the flag each step),
rank 0 writes the checkpoint and all of them exit with ``PREEMPTED``.

The warning goes to every process of the job's SLURM step: the Snakemake process that runs the
job inside its allocation ignores it (``ignore_warning_in_job``, called by workflow/rules/resources.smk),
so the signal ignored is inherited by everything it starts until a training loop sets its own
handler; the launcher starts torchrun the same way and passes the signal on to its workers.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import Callable, Iterator

log = logging.getLogger("synscale")

#: exit status of a training job that stopped on a signal after writing its resume checkpoint
PREEMPTED = 75
#: the signals a training loop stops on: SLURM's warning before the time limit, and termination
SIGNALS = (signal.SIGUSR1, signal.SIGTERM)
#: what the log says when a job stopped on a signal (the launcher looks for it in its workers' output)
MARK = "stopped on a signal"


class Preempted(SystemExit):
    """Raised by a training loop that wrote its resume checkpoint on a signal: exit status PREEMPTED."""

    def __init__(self, step: int):
        super().__init__(PREEMPTED)
        self.step = step


class StopFlag:
    """A signal handler that remembers the first signal it got (``signum``)."""

    def __init__(self):
        self.signum: int | None = None

    def __call__(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "no signal"


@contextlib.contextmanager
def stop_on_signals(enabled: bool = True, signals=SIGNALS) -> Iterator[StopFlag]:
    """Within the block, ``signals`` set the yielded flag instead of ending the process; the previous
    handlers come back after it. Off the main thread (where Python cannot set handlers) or with
    ``enabled`` False the flag is never set."""
    flag = StopFlag()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield flag
        return
    old = {s: signal.signal(s, flag) for s in signals}
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def agreed(flag: StopFlag, world_size: int, device) -> bool:
    """Whether any of the job's processes got a signal (every process calls this once per step)."""
    if world_size == 1:
        return flag.signum is not None
    import torch
    import torch.distributed as dist

    t = torch.tensor([0 if flag.signum is None else 1], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def checkpoint_and_exit(flag: StopFlag, step: int, total: int, save: Callable[[], None], resume_path,
                        rank: int = 0, world_size: int = 1) -> None:
    """Rank 0 writes the resume checkpoint (``save``); every process raises ``Preempted``."""
    if rank == 0:
        save()
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()  # no process leaves before the checkpoint is in place
    log.warning("%s at step %d of %d (%s): resume checkpoint written to %s; exiting with status %d so that "
                "the job's retry continues from it", MARK, step, total, flag.name, resume_path, PREEMPTED)
    raise Preempted(step)


def ignore_warning_in_job(env: dict | None = None) -> bool:
    """In a process inside a SLURM allocation (``SLURM_JOB_ID`` set): ignore SIGUSR1, the warning
    before the time limit, which SLURM sends to every process of the job's steps. Meant for the
    Snakemake process that runs the job there: it and what it starts (until a training loop sets
    its handler) are not ended by the warning. True when it did."""
    env = os.environ if env is None else env
    if "SLURM_JOB_ID" not in env or threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    return True


def ignore_warning() -> None:
    """``preexec_fn`` for a launcher's child (torchrun): the warning signal ignored, a disposition
    its workers inherit until their training loop sets its own handler."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
