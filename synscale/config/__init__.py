"""The configuration: what a study is, read and checked before any job runs.

Owns: loading YAML and the JSON schema with its defaults (``load``), the run-name grammar
(``names``), the semantic checks a schema cannot express (``checks``) and the timm models built on
the meta device (``models``), the runs derived from a configuration and config slices (``runs``),
the torch-free training recipes (``recipes``) and the local paths a configuration names
(``paths``). ``validate`` is the one entry point: it returns the configuration with every default
filled in, or raises ``ConfigError`` listing every bad key.

May import: ``synscale.io`` only (and the standard library, yaml, jsonschema; timm and torch
inside the model checks). Everything else in the package may import this.
"""
from __future__ import annotations

import copy

from .checks import _fit_errors, semantic_errors
from .load import SCHEMA_PATH, check_config_files, load_schema, load_yaml, schema_errors
from .models import model_errors
from .names import (
    CLIP_ARM_TAGS,
    CLIP_RUN_RE,
    FAMILIES,
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
from .paths import external_paths, missing_paths
from .recipes import iterations
from .runs import (
    clip_datasets_used,
    clip_runs,
    clip_study_runs,
    clip_twin_runs,
    grid_runs,
    pick,
    run_classifier,
    runs,
    shard_count,
)

__all__ = [
    "SCHEMA_PATH", "CLIP_ARM_TAGS", "CLIP_RUN_RE", "FAMILIES", "NAME_RE", "PROMPT_SETS", "REAL", "SUPPORTED_PROMPTS",
    "TIMM_SUBSETS", "TRAINABLE_FAMILIES", "WILDCARD_RE", "ClipRun", "ConfigError", "Run", "check_config_files",
    "clip_datasets_used", "clip_runs", "clip_study_runs", "clip_twin_runs", "clip_twins_name", "data_name",
    "external_paths", "fmt_guidance", "grid_runs", "iterations", "load_schema", "load_yaml", "missing_paths",
    "model_errors", "parse_name", "pick", "run_classifier", "run_name", "runs", "schema_errors",
    "semantic_errors", "shard_count", "validate",
]


def validate(cfg: dict) -> dict:
    """Validate and return a deep copy with every schema default filled in; raise ConfigError
    listing every problem."""
    cfg = copy.deepcopy(cfg)
    errs = schema_errors(cfg)
    if not errs:
        errs = semantic_errors(cfg)
    if not errs:
        errs = _fit_errors(cfg) + model_errors(cfg)
    if errs:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errs))
    return cfg


