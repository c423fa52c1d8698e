# Shared helpers: config validation, paths of every file family, external inputs.
import functools
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError

from synscale import config as C

try:
    CFG = C.validate(config)
except C.ConfigError as e:
    raise WorkflowError(str(e)) from None

RES = CFG.get("results", "results")
RUNS = C.runs(CFG)
DATA = CFG["data"]
EMBEDDED = DATA["source"] == "embedded_mnist"
GEN_SHARD = CFG["generation"]["shard_size"]
REAL_SHARD = DATA.get("shard_size", GEN_SHARD)


wildcard_constraints:
    run=C.WILDCARD_RE,
    scale=r"[0-9]+",
    shard=r"[0-9]{5}",
    chunk=r"[0-9]{5}",
    model=r"[a-z][a-z0-9]*",
    prompt=r"[a-z][a-z0-9_]*",


_WARNED = set()


def _missing(path, key):
    """A missing external path: fatal when a job needs it, a warning in a dry run."""
    msg = (
        f"config key '{key}' = {str(path)!r}: path not found. Point it at the local copy "
        "(synscale never downloads weights or data at run time)."
    )
    if workflow.dryrun:
        if key not in _WARNED:
            _WARNED.add(key)
            print(f"WARNING: {msg}", file=sys.stderr)
        return []
    raise WorkflowError(msg)


@functools.cache
def _exists(path):
    return Path(path).exists()


def external(path, key):
    if _exists(path):
        return [path]
    return _missing(path, key)


@functools.cache
def _expand(pattern):
    from braceexpand import braceexpand

    paths = tuple(braceexpand(pattern))
    missing = [p for p in paths if not Path(p).exists()]
    return paths, (missing[0] if missing else None)


def external_list(pattern, key):
    paths, missing = _expand(pattern)
    if missing:
        return _missing(missing, key)
    return list(paths)


# ---------------------------------------------------------------- real data
def real_train_shards(n=None):
    if EMBEDDED:
        total = math.ceil(DATA["train_size"] / REAL_SHARD)
        n = total if n is None else min(n, total)
        return [f"{RES}/data/train-{i:05d}.tar" for i in range(n)]
    paths = external_list(DATA["train_shards"], "data.train_shards")
    return paths if n is None else paths[:n]


def val_shards():
    if EMBEDDED:
        n = math.ceil(DATA["val_size"] / REAL_SHARD)
        return [f"{RES}/data/val-{i:05d}.tar" for i in range(n)]
    return external_list(DATA["val_shards"], "data.val_shards")


def ood_sets():
    """name -> list of shard paths."""
    if EMBEDDED:
        n = math.ceil(1797 / REAL_SHARD)
        return {"sklearn_digits": [f"{RES}/data/ood_sklearn_digits-{i:05d}.tar" for i in range(n)]}
    return {k: external_list(v, f"data.ood.{k}") for k, v in DATA.get("ood", {}).items()}


def classes_json():
    if EMBEDDED:
        return f"{RES}/data/classes.json"
    return external(DATA["class_index"], "data.class_index")


# ---------------------------------------------------------------- T2I and generation
def t2i_dir(model):
    path = CFG["models"][model].get("path")
    if path:
        return external(path, f"models.{model}.path")
    return [f"{RES}/t2i/{model}"]


def shards_for(run, scale):
    """Training shards of run at scale: a prefix, so scales nest."""
    scale = int(scale)
    if run == C.REAL:
        return real_train_shards(math.ceil(scale / REAL_SHARD))
    n = C.shard_count(scale, GEN_SHARD)
    return [f"{RES}/shards/{run}/shard-{i:05d}.tar" for i in range(n)]


def run_of(wildcards):
    try:
        return RUNS[wildcards.run]
    except KeyError:
        raise WorkflowError(
            f"'{wildcards.run}' is not a run of this config; add it under 'runs' "
            f"(configured: {', '.join(RUNS)})"
        ) from None


# ---------------------------------------------------------------- targets
def final_targets():
    out = []
    for name, run in RUNS.items():
        if len(run.scales) >= 2:
            out.append(f"{RES}/scaling/{name}.json")
        else:
            out += [f"{RES}/eval/{name}/n{s}.json" for s in run.scales]
        if not run.is_real:
            out.append(f"{RES}/quality/{name}.json")
    return out


# ---------------------------------------------------------------- cluster resources
# Requests per job on a cluster (ignored by local runs). Runtimes grow with the work a job does
# (shard size, training iterations) and with the attempt number, so a retry asks for more time.
RESOURCES = {
    "mem_mb": 4000,
    "t2i_minutes": 60,
    "generate_minutes_per_1k_images": 2.0,
    "train_minutes_per_1k_iters": 10.0,
    **CFG.get("resources", {}),
}
TRAIN_GPUS = int(CFG["classifier"].get("gpus", 1))


def runtime_generate(wildcards, attempt):
    n = CFG["generation"]["testset_per_class"] * 1000 if "shard" not in wildcards.keys() else GEN_SHARD
    return int(10 + RESOURCES["generate_minutes_per_1k_images"] * n / 1000) * attempt


def runtime_train(wildcards, attempt):
    iters, _ = C.iterations(int(wildcards.scale), CFG["classifier"]["schedule"])
    return int(10 + RESOURCES["train_minutes_per_1k_iters"] * iters / 1000) * attempt


def runtime_t2i(wildcards, attempt):
    return int(RESOURCES["t2i_minutes"]) * attempt


def mem_mb(wildcards, attempt):
    return int(RESOURCES["mem_mb"]) * attempt



# ---------------------------------------------------------------- prompt sets
PROMPTS_CFG = CFG.get("prompts") or {}
CAPTIONER = (PROMPTS_CFG.get("captioner") or {}).get("path")
WORD2SEN = (PROMPTS_CFG.get("word2sen") or {}).get("path")
# what each set depends on beyond the classes: a change re-runs that table only
_PROMPT_KEYS = {
    "classname_hyper": ("hypernym_depth",),
    "classname_desc_places": ("places_per_class",),
    "classname_hyper_places": ("hypernym_depth", "places_per_class"),
    "word2sen": ("word2sen",),
    "incap": ("captioner",),
}


def prompt_params(prompt):
    keys = _PROMPT_KEYS.get(prompt, ())
    return json.dumps({"seed": CFG["seed"], **{k: PROMPTS_CFG.get(k) for k in keys}}, sort_keys=True)


def n_real_train_shards():
    if EMBEDDED:
        return math.ceil(DATA["train_size"] / REAL_SHARD)
    return len(_expand(DATA["train_shards"])[0])


CAPTION_SHARDS_PER_JOB = int((PROMPTS_CFG.get("captioner") or {}).get("shards_per_job", 10))


def caption_chunk_shards(chunk):
    """The real train shards captioned by caption job ``chunk``."""
    lo = chunk * CAPTION_SHARDS_PER_JOB
    hi = min(lo + CAPTION_SHARDS_PER_JOB, n_real_train_shards())
    if EMBEDDED:
        return real_train_shards()[lo:hi]
    paths = _expand(DATA["train_shards"])[0][lo:hi]
    return [p for path in paths for p in external(path, "data.train_shards")]


def caption_tables():
    n = math.ceil(n_real_train_shards() / CAPTION_SHARDS_PER_JOB)
    return [f"{RES}/captions/train-{i:05d}.parquet" for i in range(n)]


def prompt_inputs(prompt):
    if prompt != "incap":
        return []
    return caption_tables() if CAPTIONER else real_train_shards()


def runtime_prompts(wildcards, attempt):
    # word2sen samples 100+ sentences for each class; the other sets take seconds
    return (120 if wildcards.prompt == "word2sen" else 30) * attempt


def runtime_captions(wildcards, attempt):
    images = REAL_SHARD * CAPTION_SHARDS_PER_JOB
    return int(10 + RESOURCES.get("caption_minutes_per_1k_images", 2.0) * images / 1000) * attempt


def prompt_model(prompt):
    if prompt == "word2sen" and WORD2SEN:
        return external(WORD2SEN, "prompts.word2sen.path")
    return []
