"""The local weights and data a configuration names (its external paths), which are missing and the
command that previews the jobs without them; the results root as a run prints it."""
from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Iterable

from .names import MODEL_PATH_KEYS, TIMM_SUBSETS
from .runs import clip_datasets_used, clip_twin_runs, grid_runs, runs


def external_paths(cfg: dict) -> list[tuple[str, str]]:
    """(config key, path) of every local file or directory the configuration's runs need;
    brace patterns are expanded."""
    from braceexpand import braceexpand

    out: list[tuple[str, str]] = []
    d = cfg["data"]
    if d["source"] == "webdataset":
        for k in ("train_shards", "val_shards"):
            out += [(f"data.{k}", p) for p in braceexpand(d[k])]
        out.append(("data.class_index", d["class_index"]))
        for name, o in d["ood"].items():
            out += [(f"data.ood.{name}.shards", p) for p in braceexpand(o["shards"])]
            sub = o["class_subset"]
            if isinstance(sub, str) and sub not in TIMM_SUBSETS:
                out.append((f"data.ood.{name}.class_subset", sub))
    used = [*runs(cfg).values(), *grid_runs(cfg).values()]
    for name in sorted({r.model for r in [*used, *clip_twin_runs(cfg).values()] if not r.is_real}):
        for k in MODEL_PATH_KEYS[cfg["models"][name]["family"]]:
            if cfg["models"][name].get(k):
                out.append((f"models.{name}.{k}", cfg["models"][name][k]))
    if cfg["reference_classifier"]["path"]:
        out.append(("reference_classifier.path", cfg["reference_classifier"]["path"]))
    for name, spec in cfg["probes"].items():
        if spec.get("root"):
            out.append((f"probes.{name}.root", spec["root"]))
        for k in ("train_shards", "test_shards"):
            if spec.get(k):
                out += [(f"probes.{name}.{k}", p) for p in braceexpand(spec[k])]
    if cfg["quality"]["fid"]["inception_weights"]:
        out.append(("quality.fid.inception_weights", cfg["quality"]["fid"]["inception_weights"]))
    if cfg["quality"]["lpips"]["backbone_weights"]:
        out.append(("quality.lpips.backbone_weights", cfg["quality"]["lpips"]["backbone_weights"]))
    clip = cfg.get("clip")
    if clip:
        for name, ds in clip["datasets"].items():
            if ds.get("shards") and name in clip_datasets_used(cfg):
                out += [(f"clip.datasets.{name}.shards", p) for p in braceexpand(ds["shards"])]
        if clip["zero_shot"]["probes"]:
            out += [(f"probes.{n}.classnames", s["classnames"]) for n, s in cfg["probes"].items()
                    if s.get("classnames")]
    prompts = {r.prompt for r in used}
    for prompt, section in (("word2sen", "word2sen"), ("incap", "captioner")):
        if prompt in prompts and cfg["prompts"][section]["path"]:
            out.append((f"prompts.{section}.path", cfg["prompts"][section]["path"]))
    return out


def missing_paths(cfg: dict) -> dict[str, list[str]]:
    """config key -> the paths under it that do not exist."""
    out: dict[str, list[str]] = {}
    for key, path in external_paths(cfg):
        if not os.path.exists(path):
            out.setdefault(key, []).append(path)
    return out



def results_root(cfg: dict) -> str:
    """The results root as an absolute path, '..' and links resolved (relative roots are taken from
    the working directory): what every run and dry run prints first."""
    return str(Path(cfg["results"]).resolve())


def preview_command(configfiles: Iterable[str | Path], snakefile: str | Path, cwd: str | Path | None = None) -> str:
    """The dry run that previews a configuration whose local paths are missing, as a command that
    works when pasted: the same config files, and the Snakefile and working directory where the
    working directory is not the project's root."""
    cwd = Path(cwd or os.getcwd()).resolve()
    snakefile = Path(snakefile).resolve()
    at_root = snakefile.parent == cwd and snakefile.name == "Snakefile"

    def shown(p: str | Path) -> str:
        p = (cwd / p).resolve()
        return str(p.relative_to(cwd)) if at_root and p.is_relative_to(cwd) else str(p)

    cmd = ["snakemake", "-n"]
    if not at_root:
        cmd += ["--snakefile", str(snakefile), "--directory", str(cwd)]
    files = [shown(f) for f in configfiles]
    if files:
        cmd += ["--configfile", *files]
    return shlex.join([*cmd, "--config", "allow_missing_paths=true"])
