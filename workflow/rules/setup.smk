# Setup: the validated configuration and its runs, the results root RES, the local paths the
# configuration names (all present, or the workflow stops before any job), wildcard constraints and
# the config slice each job depends on. Paths of the workflow's files: paths.smk.
import functools
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError

from synscale import config as C
from synscale.steps import keys

try:
    C.check_config_files(workflow.configfiles)
    CFG = C.validate(config, files=workflow.configfiles, cli_keys=workflow.config_settings.config)
except C.ConfigError as e:
    raise WorkflowError(str(e)) from None
if Path(CFG["results"]).exists() and not Path(CFG["results"]).is_dir():
    raise WorkflowError(f"config key 'results' = {CFG['results']!r}: a file of that name exists; name a directory")
if workflow.is_main_process:  # once per run and dry run (not again in each cluster job)
    print(f"synscale: results root {C.results_root(CFG)} (config key 'results')", file=sys.stderr)

RES = CFG["results"]
LOGS = f"{RES}/logs"  # every job's log, under its results root (configurations never share logs)
RUNS = C.runs(CFG)
DATA = CFG["data"]
EMBEDDED = DATA["source"] == "embedded_mnist"
GEN_SHARD = CFG["generation"]["shard_size"]
REAL_SHARD = DATA["shard_size"]
THREADS = CFG["threads"]
TRAIN_GPUS = CFG["classifier"]["gpus"]
RESOURCES = CFG["resources"]
CAPTIONER = CFG["prompts"]["captioner"]["path"]
WORD2SEN = CFG["prompts"]["word2sen"]["path"]
CAPTION_SHARDS_PER_JOB = CFG["prompts"]["captioner"]["shards_per_job"]
CLIP = CFG["clip"]
CLIP_RUNS = C.clip_runs(CFG)

# the image sets of the runs: runs that differ only in their classifier share one; the guidance
# sweep of the `grid` section (test sets and quality only: a config that is also a scaling run
# shares them) and the CLIP study's twins have theirs
DATA_RUNS = {}
GRID = C.grid_runs(CFG)
for _r in (*RUNS.values(), *GRID.values(), *C.clip_twin_runs(CFG).values()):
    DATA_RUNS.setdefault(_r.data, _r)


wildcard_constraints:
    run=C.WILDCARD_RE,
    scale=r"[0-9]+",
    shard=r"[0-9]{5}",
    chunk=r"[0-9]{5}",
    model=r"[a-z][a-z0-9]*",
    prompt=r"[a-z][a-z0-9_]*",
    crun=C.CLIP_RUN_RE,
    arm=r"real|syn|syn\+real",
    block=r"[0-9]{5}",
    dataset=r"[a-z][a-z0-9]*",


def job_config(names):
    """The config slice a job depends on (keys: synscale/steps/keys.py), passed as its `config`
    param: editing a key re-runs exactly the jobs whose slice holds it (--rerun-triggers params).
    Every slice names the results root, which every output records in its provenance."""
    return C.pick(CFG, "results", *names)


# Local weights and data the configuration names: all present, or the workflow stops here, before
# any job, in a dry run and a real run alike. `--config allow_missing_paths=true` (dry runs only)
# previews the jobs without them.
MISSING = C.missing_paths(CFG)
ALLOW_MISSING = CFG["allow_missing_paths"]
if MISSING:
    _lines = [
        f"config key '{key}' = {paths[0]!r}"
        + (f" (and {len(paths) - 1} more)" if len(paths) > 1 else "")
        + ": path not found"
        for key, paths in MISSING.items()
    ]
    if not ALLOW_MISSING:
        raise WorkflowError(
            "local weights or data missing (synscale never downloads them at run time); point these "
            "keys at the local copies:\n  - "
            + "\n  - ".join(_lines)
            + "\n(to preview the jobs without them: "
            + C.preview_command(workflow.configfiles, workflow.main_snakefile)
            + ")"
        )
    for _line in _lines:
        print(f"WARNING: {_line}", file=sys.stderr)
_MISSING_PATHS = {p for paths in MISSING.values() for p in paths}


def external(path, key):
    """A local path the configuration names, as an input (left out in an allow_missing_paths preview)."""
    return [] if path in _MISSING_PATHS else [path]


@functools.cache
def expand_braces(pattern):
    from braceexpand import braceexpand

    return tuple(braceexpand(pattern))


def external_list(pattern, key):
    return [p for p in expand_braces(pattern) if p not in _MISSING_PATHS]


# ---------------------------------------------------------------- the run of a job
def run_of(wildcards):
    try:
        return RUNS[wildcards.run]
    except KeyError:
        raise WorkflowError(
            f"'{wildcards.run}' is not a run of this config; add it under 'runs' " f"(configured: {', '.join(RUNS)})"
        ) from None


def data_run(wildcards):
    """The run whose images a generation / quality job makes or reads."""
    try:
        return DATA_RUNS[wildcards.run]
    except KeyError:
        raise WorkflowError(
            f"'{wildcards.run}' is not the image set of a run of this config (configured: {', '.join(DATA_RUNS)})"
        ) from None


def clip_run_of(wildcards):
    try:
        return CLIP_RUNS[wildcards.crun]
    except KeyError:
        raise WorkflowError(
            f"'{wildcards.crun}' is not a CLIP run of this config (configured: "
            f"{', '.join(CLIP_RUNS) or 'none: no clip section'})"
        ) from None


def is_twins(run):
    """Whether a data run is the synthetic twins of a caption dataset (its 'prompt' is the dataset)."""
    return bool(CLIP) and run.prompt in CLIP["datasets"]


def run_classifier(wildcards):
    """The classifier section of a run (its runs[].classifier in place)."""
    return C.run_classifier(CFG["classifier"], run_of(wildcards).classifier)
