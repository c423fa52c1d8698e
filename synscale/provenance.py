"""Provenance recorded in every JSON the workflow writes: git commit, the hash of the config slice
the job depended on, the results root it was written for, seeds, library versions, wall time."""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path

PACKAGES = ("synscale", "torch", "torchvision", "timm", "diffusers", "transformers", "numpy", "pandas",
            "statsmodels", "snakemake", "open_clip_torch", "scikit-learn")
REPO = Path(__file__).resolve().parent.parent


def config_hash(cfg: dict) -> str:
    """A short hash of a config slice (keys sorted): which configuration a JSON was made from."""
    blob = json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def git_commit(repo: Path = REPO) -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if not sha:
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def provenance(cfg: dict, seeds: dict | None = None, wall_time_s: float | None = None, **extra) -> dict:
    out = {
        "git_commit": git_commit(),
        "config_hash": config_hash(cfg),
        "results": cfg.get("results"),
        # the global seed where the job's config slice holds it (dict.get: a job that does not
        # depend on the seed records None, and reading past its slice would stop it)
        "seeds": {"global": dict.get(cfg, "seed"), **(seeds or {})},
        "versions": versions(),
        "host": platform.node(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if wall_time_s is not None:
        out["wall_time_s"] = round(float(wall_time_s), 3)
    out.update(extra)
    return out
