"""The configuration: what a study is, read and checked before any job runs.

Owns: loading YAML and the JSON schema with its defaults (``load``), schema errors in words
(``messages``), the run-name grammar (``names``), the semantic checks a schema cannot express
(``checks``; scale lists, shard capacities, CLIP recipes and unique names: ``limits``) and the timm
models built on the meta device (``models``), the runs derived from a configuration and config
slices (``runs``), the torch-free training recipes (``recipes``) and the local paths a configuration
names, with the command that previews it without them (``paths``), and the slice a job is handed,
which refuses reads of keys its rule did not pass (``declared``). ``validate`` is the one entry
point: it returns the configuration with every default filled in, or raises ``ConfigError`` listing
every bad key (with the file and line that set it, given the files). ``python -m synscale.config
FILE...`` checks config files without Snakemake.

May import: ``synscale.io`` only (and the standard library, yaml, jsonschema; timm and torch
inside the model checks). Everything else in the package may import this.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Iterable

from .checks import _fit_errors, semantic_errors
from .limits import scale_list_errors
from .load import SCHEMA_PATH, check_config_files, load_schema, load_yaml, locate, nonfinite_errors, schema_errors
from .models import model_errors
from .names import (
    CLIP_ARM_TAGS,
    CLIP_RUN_RE,
    FAMILIES,
    MAX_INDEX,
    MAX_SCALE,
    MODEL_PATH_KEYS,
    NAME_RE,
    PROMPT_SETS,
    REAL,
    SUPPORTED_PROMPTS,
    TIMM_SUBSETS,
    TRAINABLE_FAMILIES,
    WILDCARD_RE,
    ClipRun,
    ConfigError,
    Run,
    clip_twins_name,
    data_name,
    fmt_guidance,
    parse_name,
    run_name,
)
from .paths import external_paths, missing_paths, preview_command, results_root
from .recipes import iterations
from .runs import (
    clip_datasets_used,
    clip_runs,
    clip_study_runs,
    clip_twin_runs,
    grid_runs,
    named_runs,
    pick,
    run_classifier,
    runs,
    shard_count,
)

__all__ = [
    "SCHEMA_PATH", "CLIP_ARM_TAGS", "CLIP_RUN_RE", "FAMILIES", "MODEL_PATH_KEYS", "MAX_INDEX", "MAX_SCALE", "NAME_RE",
    "PROMPT_SETS",
    "REAL", "SUPPORTED_PROMPTS", "TIMM_SUBSETS", "TRAINABLE_FAMILIES", "WILDCARD_RE", "ClipRun", "ConfigError", "Run",
    "check_config_files", "clip_datasets_used", "clip_runs", "clip_study_runs", "clip_twin_runs", "clip_twins_name",
    "data_name", "external_paths", "fmt_guidance", "grid_runs", "iterations", "load_schema", "load_yaml", "locate",
    "missing_paths", "model_errors", "named_runs", "nonfinite_errors", "parse_name", "pick", "preview_command",
    "results_root", "run_classifier", "run_name", "runs", "scale_list_errors", "schema_errors", "semantic_errors",
    "shard_count", "validate",
]


def validate(cfg: dict, files: Iterable[str | Path] = (), cli_keys: Iterable[str] = ()) -> dict:
    """Validate and return a deep copy with every schema default filled in; raise ConfigError
    listing every problem. With the config ``files`` it was read from, each message also names the
    file and line that set its key (not for the top-level ``cli_keys`` given by --config)."""
    cfg = copy.deepcopy(cfg)
    errs = schema_errors(cfg)
    if not errs:
        errs = semantic_errors(cfg)
    if not errs:
        errs = _fit_errors(cfg) + model_errors(cfg)
    if errs:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(_located(m, files, cli_keys) for m in errs))
    return cfg


def _located(msg: str, files: Iterable[str | Path], cli_keys: Iterable[str]) -> str:
    """``msg`` with ' (set in <file>, line N)' of its config key, where a config file sets it."""
    m = re.match(r"config keys? '([^']+)'", msg)
    if not m or not files or re.split(r"[.\[]", m[1])[0] in set(cli_keys):
        return msg
    where = locate(m[1], files)
    return f"{msg} (set in {where})" if where else msg


