"""Logging set-up for workflow steps and a progress reporter that writes to the log."""
from __future__ import annotations

import logging
import sys
import time


def setup(log_file: str | None = None, level: int = logging.INFO) -> logging.Logger:
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    for noisy in ("diffusers", "transformers", "PIL", "matplotlib", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    quiet_libraries()
    return logging.getLogger("synscale")


class Progress:
    """Logs 'desc: i/total (pct) eta' at most every ``every_s`` seconds and at the end."""

    def __init__(self, desc: str, total: int, every_s: float = 10.0, logger: logging.Logger | None = None):
        self.desc, self.total, self.every_s = desc, max(1, total), every_s
        self.log = logger or logging.getLogger("synscale.progress")
        self.t0 = self.last = time.time()

    def __call__(self, done: int, extra: float | str | None = None) -> None:
        now = time.time()
        done = min(done, self.total)
        if now - self.last < self.every_s and done < self.total:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        tail = f" {extra:.4f}" if isinstance(extra, float) else (f" {extra}" if extra else "")
        self.log.info("%s: %d/%d (%.0f%%) eta %.0fs%s", self.desc, done, self.total, 100 * done / self.total,
                      eta, tail)


def quiet_libraries() -> None:
    """diffusers and transformers keep their own handlers: silence their warnings."""
    try:
        import diffusers.utils.logging as dl

        dl.set_verbosity_error()
        dl.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    try:
        import transformers.utils.logging as tl

        tl.set_verbosity_error()
        tl.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
