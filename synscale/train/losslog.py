"""A training job's loss curve while it runs: ``<output>.loss.csv`` beside its output.

Columns ``step, loss, lr``: ``step`` counts the optimizer steps done (1 to the job's total),
``loss`` is the mean training loss of the steps since the previous row, ``lr`` the learning rate of
the row's step. A row is appended (and flushed) every ``every`` steps and at the last step, so the
file can be read while the job runs. A resumed job first drops the rows past the step it resumes
from (written after its last checkpoint): the file never holds a step twice. Where ``tensorboard``
is installed the same values go to TensorBoard event files in ``<output>.tb/`` (events past the
resume step purged)."""
from __future__ import annotations

import csv
import importlib.util
import logging
import os
from pathlib import Path

from synscale.io import atomic_path

log = logging.getLogger(__name__)

COLUMNS = ("step", "loss", "lr")


def loss_csv_path(output: str | os.PathLike) -> Path:
    return Path(f"{output}.loss.csv")


def every_for(total: int, rows: int = 2000) -> int:
    """Steps between rows: every step up to ``rows`` steps, then about ``rows`` rows in all."""
    return max(1, int(total) // rows)


def _rows_up_to(path: Path, start: int) -> tuple[list[list[str]], bool]:
    """The rows of ``path`` at steps <= start, and whether any row was dropped (or unreadable)."""
    keep, dropped = [], False
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError:
        return [], True
    for row in rows[1:] if rows and tuple(rows[0]) == COLUMNS else rows:
        try:
            ok = len(row) == 3 and int(row[0]) <= start
        except ValueError:
            ok = False
        if ok:
            keep.append(row)
        else:
            dropped = True
    return keep, dropped or not rows or tuple(rows[0]) != COLUMNS


class LossLog:
    """Append ``(step, loss, lr)`` rows to ``path`` (see the module's doc); ``start``: the step the
    job resumes from (0: a new file)."""

    def __init__(self, path: str | os.PathLike, start: int, total: int, every: int | None = None):
        self.path, self.total = Path(path), int(total)
        self.every = every_for(total) if every is None else max(1, int(every))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if start and self.path.exists():
            keep, dirty = _rows_up_to(self.path, start)
            if dirty:
                self._rewrite(keep)
        else:
            self._rewrite([])
        self.fh = open(self.path, "a", newline="")
        self.writer = csv.writer(self.fh)
        self.pending: list[float] = []
        self.tb = _tensorboard(Path(f"{path}".removesuffix(".loss.csv") + ".tb"), start)

    def _rewrite(self, rows: list[list[str]]) -> None:
        with atomic_path(self.path) as tmp:
            with open(tmp, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(COLUMNS)
                w.writerows(rows)

    def __call__(self, step: int, loss: float, lr: float) -> None:
        """Note the loss of step ``step`` (1-based); append a row when one is due."""
        self.pending.append(float(loss))
        if step % self.every and step != self.total:
            return
        mean = sum(self.pending) / len(self.pending)
        self.pending = []
        self.writer.writerow([int(step), f"{mean:.6g}", f"{float(lr):.6g}"])
        self.fh.flush()
        if self.tb is not None:
            self.tb.add_scalar("train/loss", mean, step)
            self.tb.add_scalar("train/lr", float(lr), step)
            self.tb.flush()

    def close(self) -> None:
        self.fh.close()
        if self.tb is not None:
            self.tb.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _tensorboard(log_dir: Path, start: int):
    """A SummaryWriter purging events past ``start``, or None without the tensorboard package."""
    if importlib.util.find_spec("tensorboard") is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(log_dir), purge_step=start + 1 if start else None)
    except Exception as e:  # an unusable install must not stop training
        log.warning("TensorBoard events not written to %s: %s", log_dir, e)
        return None


class NoLog:
    """Stands in for LossLog where a loop keeps no curve."""

    def __call__(self, step: int, loss: float, lr: float) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def open_log(resume_path: str | os.PathLike | None, start: int, total: int, rank: int = 0):
    """The loss log of a training job whose resume checkpoint is ``resume_path`` (``<output>.resume``:
    the log is ``<output>.loss.csv``), kept by rank 0; NoLog without a resume path."""
    if not resume_path or rank != 0:
        return NoLog()
    out = str(resume_path).removesuffix(".resume")
    return LossLog(loss_csv_path(out), start, total)
