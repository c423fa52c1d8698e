# Shared helpers: config validation, the config slice each job depends on, paths of every file
# family, external inputs and cluster resources.
import functools
import math
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError

from synscale import config as C
from synscale.steps import analysis as ANALYSIS_STEP
from synscale.steps import clip as CLIP_STEP
from synscale.steps import data as DATA_STEP
from synscale.steps import evaluate as EVALUATE_STEP
from synscale.steps import fit as FIT_STEP
from synscale.steps import generate as GENERATE_STEP
from synscale.steps import grid as GRID_STEP
from synscale.steps import prompts as PROMPTS_STEP
from synscale.steps import quality as QUALITY_STEP
from synscale.steps import report as REPORT_STEP
from synscale.steps import reference as REFERENCE_STEP
from synscale.steps import t2i as T2I_STEP
from synscale.steps import train as TRAIN_STEP

try:
    C.check_config_files(workflow.configfiles)
    CFG = C.validate(config)
except C.ConfigError as e:
    raise WorkflowError(str(e)) from None
if Path(CFG["results"]).exists() and not Path(CFG["results"]).is_dir():
    raise WorkflowError(
        f"config key 'results' = {CFG['results']!r}: a file of that name exists; name a directory"
    )

RES = CFG["results"]
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


def job_config(keys):
    """The config slice a job depends on, passed as its `config` param: editing a key re-runs
    exactly the jobs whose slice holds it (--rerun-triggers params). Every slice names the
    results root, which every output records in its provenance."""
    return C.pick(CFG, "results", *keys)


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
            "keys at the local copies:\n  - " + "\n  - ".join(_lines)
            + "\n(to preview the jobs without them: snakemake -n --config allow_missing_paths=true)"
        )
    for _line in _lines:
        print(f"WARNING: {_line}", file=sys.stderr)
_MISSING_PATHS = {p for paths in MISSING.values() for p in paths}


def external(path, key):
    """A local path the configuration names, as an input (left out in an allow_missing_paths preview)."""
    return [] if path in _MISSING_PATHS else [path]


@functools.cache
def _expand(pattern):
    from braceexpand import braceexpand

    return tuple(braceexpand(pattern))


def external_list(pattern, key):
    return [p for p in _expand(pattern) if p not in _MISSING_PATHS]


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
    """name -> list of shard paths; names are the config keys under data.ood."""
    if EMBEDDED:
        n = math.ceil(1797 / REAL_SHARD)
        return {"sklearn_digits": [f"{RES}/data/ood_sklearn_digits-{i:05d}.tar" for i in range(n)]}
    return {k: external_list(v["shards"], f"data.ood.{k}.shards") for k, v in DATA["ood"].items()}


def probe_inputs():
    """Input name -> paths of each linear probe: the embedded digits' shards, a webdataset probe's
    train and test shards (``<name>_train``, ``<name>_test``), a torchvision probe's root."""
    out = {}
    for name, spec in CFG["probes"].items():
        if spec.get("embedded") == "sklearn_digits":
            out[name] = ood_sets()["sklearn_digits"]
        elif spec.get("train_shards"):
            out[f"{name}_train"] = external_list(spec["train_shards"], f"probes.{name}.train_shards")
            out[f"{name}_test"] = external_list(spec["test_shards"], f"probes.{name}.test_shards")
        else:
            out[name] = external(spec["root"], f"probes.{name}.root")
    return out


def ood_subset_files():
    """Class-subset files of the OOD sets (a list of label indices needs none)."""
    out = []
    for k, v in DATA["ood"].items():
        sub = v["class_subset"]
        if isinstance(sub, str) and sub not in C.TIMM_SUBSETS:
            out += external(sub, f"data.ood.{k}.class_subset")
    return out


def classes_json():
    if EMBEDDED:
        return f"{RES}/data/classes.json"
    return external(DATA["class_index"], "data.class_index")


# ---------------------------------------------------------------- T2I and generation
def t2i_dir(model):
    """The pipeline directories of a model: its local weights (pixel_cascade: stage I and II), or
    the tiny model the workflow trains."""
    m = CFG["models"][model]
    if m["path"]:
        keys = ("path", "sr_path") if m["family"] == "pixel_cascade" else ("path",)
        return [p for k in keys for p in external(m[k], f"models.{model}.{k}")]
    return [f"{RES}/t2i/{model}"]


def shards_for(run, scale):
    """Training shards of run at scale: a prefix, so scales nest (runs that differ only in their
    classifier tag share them)."""
    scale = int(scale)
    run = C.data_name(run)
    if run == C.REAL:
        return real_train_shards(math.ceil(scale / REAL_SHARD))
    n = C.shard_count(scale, GEN_SHARD)
    return [f"{RES}/shards/{run}/shard-{i:05d}.tar" for i in range(n)]


def manifests_of(paths):
    """The manifests covering these workflow-written files, which jobs check what they read
    against (synscale/integrity.py); a user's external data has none."""
    out = set()
    for p in paths:
        if p.startswith((f"{RES}/shards/", f"{RES}/testsets/")):
            out.add(p[: -len(".tar")] + ".json")
        elif p.startswith(f"{RES}/data/"):
            out.add(f"{RES}/data/data.json")
        elif p.startswith((f"{RES}/checkpoints/", f"{RES}/clip/checkpoints/")):
            out.add(str(Path(p).with_name("train.json")))
        elif p.startswith(f"{RES}/clip/data/"):
            out.add(str(Path(p).with_name("data.json")))
        elif p == f"{RES}/reference/model.pt" and not CFG["reference_classifier"]["path"]:
            out.add(f"{RES}/reference/metrics.json")
    return sorted(out)


def run_of(wildcards):
    try:
        return RUNS[wildcards.run]
    except KeyError:
        raise WorkflowError(
            f"'{wildcards.run}' is not a run of this config; add it under 'runs' "
            f"(configured: {', '.join(RUNS)})"
        ) from None


# the image sets of the runs: runs that differ only in their classifier share one
DATA_RUNS = {}
for _r in RUNS.values():
    DATA_RUNS.setdefault(_r.data, _r)
# the guidance sweep of the `grid` section: test sets and quality only (a config that is also a
# scaling run shares them)
GRID = C.grid_runs(CFG)
for _r in GRID.values():
    DATA_RUNS.setdefault(_r.data, _r)


def data_run(wildcards):
    """The run whose images a generation / quality job makes or reads."""
    try:
        return DATA_RUNS[wildcards.run]
    except KeyError:
        raise WorkflowError(
            f"'{wildcards.run}' is not the image set of a run of this config (configured: {', '.join(DATA_RUNS)})"
        ) from None


def quality_weights(kind):
    """The local network weights FID ("fid") or LPIPS ("lpips") read, if the config names them."""
    key = {"fid": "inception_weights", "lpips": "backbone_weights"}[kind]
    path = CFG["quality"][kind][key]
    return external(path, f"quality.{kind}.{key}") if path else []


def quality_json(run):
    return f"{RES}/quality/{C.data_name(run)}.json"


def run_params(wildcards):
    r = run_of(wildcards)
    if r.seed_of:
        raise WorkflowError(f"'{r.name}' is a seed variant of '{r.seed_of}': it enters that run's fit "
                            f"(results/scaling/{r.seed_of}.json)")
    return {"name": r.name, "model": r.model, "guidance": r.guidance, "prompt": r.prompt,
            "fit_range": r.fit_range, "seed_runs": list(r.seed_runs)}


def evaluate_inputs(wildcards):
    inputs = {
        "model": f"{RES}/checkpoints/{wildcards.run}/n{wildcards.scale}/model.pt",
        "val": val_shards(),
        "classes": classes_json(),
        "subsets": ood_subset_files(),
    }
    for name, paths in ood_sets().items():
        inputs[EVALUATE_STEP.OOD_PREFIX + name] = paths
    for name, paths in probe_inputs().items():
        inputs[EVALUATE_STEP.PROBE_PREFIX + name] = paths
    ood = [p for paths in ood_sets().values() for p in paths]
    inputs["manifests"] = manifests_of([inputs["model"], *inputs["val"], *ood])
    return inputs


# ---------------------------------------------------------------- targets
def run_targets(runs):
    out = []
    for name, run in runs.items():
        if len(run.scales) >= 2:
            out.append(f"{RES}/scaling/{name}.json")
        else:
            out += [f"{RES}/eval/{name}/n{s}.json" for s in run.scales]
        if not run.is_real:
            out.append(quality_json(name))
    return sorted(set(out), key=out.index)


def final_targets():
    runs = {n: r for n, r in RUNS.items() if r.default_target}
    return run_targets(runs) + [f"{RES}/analysis/{n}.json" for n, r in runs.items()
                                if not r.is_real and len(r.scales) >= 2] + report_targets() + clip_targets()


def paper_table():
    """report.paper_table as an input (a relative path is the project's own, e.g. data/paper_grid_1p3M.csv)."""
    p = CFG["report"]["paper_table"]
    if not p:
        return []
    return [p if Path(p).is_absolute() else str(Path(workflow.basedir) / p)]


def report_runs():
    """The runs the report shows: those of the default target."""
    return {n: r for n, r in RUNS.items() if r.default_target}


def report_run_params():
    out = {}
    for n, r in report_runs().items():
        out[n] = {"model": r.model, "guidance": r.guidance, "prompt": r.prompt,
                  "fit": f"{RES}/scaling/{n}.json" if len(r.scales) >= 2 else None,
                  "last_eval": f"{RES}/eval/{n}/n{max(r.scales)}.json",
                  "quality": None if r.is_real else quality_json(n)}
    return out


def report_targets():
    out = [f"{RES}/report/summary.html"]
    out += [f"{RES}/report/samples/{r.data}.png" for r in report_runs().values() if not r.is_real]
    return sorted(set(out), key=out.index)


def real_fitted():
    r = RUNS.get(C.REAL)
    return r if r is not None and len(r.scales) >= 2 else None


def analysis_inputs(wildcards):
    run = run_of(wildcards)
    if run.is_real or len(run.scales) < 2:
        raise WorkflowError(f"analysis: '{wildcards.run}' is not a fitted synthetic run")
    inputs = {
        "fit": f"{RES}/scaling/{run.name}.json",
        "last_eval": f"{RES}/eval/{run.name}/n{max(run.scales)}.json",
        "quality": quality_json(run.name),
        "classes": classes_json(),
    }
    real = real_fitted()
    if real is not None:
        inputs["real_fit"] = f"{RES}/scaling/{C.REAL}.json"
        inputs["real_eval"] = f"{RES}/eval/{C.REAL}/n{max(real.scales)}.json"
    return inputs


def cross_run_labels(figure):
    """Report labels of a figure across runs (the same keys as a run's)."""
    return {"model": "all runs", "guidance": "-", "prompt": "-", "figure": figure}


def run_labels(name, figure):
    """Report labels of a run's figure: model, guidance, prompt set."""
    model, guidance, prompt = C.parse_name(name)
    return {"model": model, "guidance": "-" if guidance is None else C.fmt_guidance(guidance),
            "prompt": prompt or "-", "figure": figure}


def fitted_runs():
    """Runs with a scaling law (two scales or more); a seed variant enters its run's fit."""
    return [name for name, run in RUNS.items() if len(run.scales) >= 2 and not run.seed_of]


def fit_evals(wildcards):
    """The evaluations a run's fit reads: every scale, of the run and of its seed variants."""
    r = run_of(wildcards)
    return [f"{RES}/eval/{n}/n{s}.json" for n in (r.name, *r.seed_runs) for s in r.scales]


# ---------------------------------------------------------------- cluster resources
# Requests per job on a cluster (ignored by local runs). Runtimes grow with the work a job does
# (shard size, training iterations) and with the attempt number, so a retry asks for more time.
def runtime_generate(wildcards, attempt):
    """Minutes for a shard, a test set or a caption block's twins, spread over generation.gpus."""
    if "shard" not in wildcards.keys():
        n = CFG["generation"]["testset_per_class"] * 1000
    elif CLIP and data_run(wildcards).prompt in CLIP["datasets"]:
        ds = CLIP["datasets"][data_run(wildcards).prompt]
        n = ds["shard_size"] * ds["shards_per_block"]
    else:
        n = GEN_SHARD
    per_gpu = n / CFG["generation"]["gpus"]
    return int(10 + RESOURCES["generate_minutes_per_1k_images"] * per_gpu / 1000) * attempt


def run_classifier(wildcards):
    """The classifier section of a run (its runs[].classifier in place)."""
    return C.run_classifier(CFG["classifier"], run_of(wildcards).classifier)


def runtime_train(wildcards, attempt):
    iters, _ = C.iterations(int(wildcards.scale), CFG["classifier"]["schedule"])
    return int(10 + RESOURCES["train_minutes_per_1k_iters"] * iters / 1000) * attempt


def node_request(key, section):
    """SLURM request `key` of a training job whose section (`nodes`, `gpus`) is `section`: one node
    with `gpus` GPUs (--gpus), or `nodes` nodes with `gpus` GPUs each (--nodes, --gres=gpu:G;
    SLURM's default of one task per node is the one srun task per node that starts torchrun)."""
    if key == "nodes":
        return section["nodes"]
    if key == "gpu":
        return section["gpus"] if section["nodes"] == 1 else 0
    if key == "gres":
        return f"gpu:{section['gpus']}" if section["nodes"] > 1 else ""
    raise KeyError(key)


def train_resources(key):
    """A classifier training job's SLURM request `key` (its run's classifier section)."""
    return lambda wildcards: node_request(key, run_classifier(wildcards))


def runtime_t2i(wildcards, attempt):
    return RESOURCES["t2i_minutes"] * attempt


def runtime_reference(wildcards, attempt):
    return RESOURCES["reference_minutes"] * attempt


def mem_mb(wildcards, attempt):
    return RESOURCES["mem_mb"] * attempt


def runtime_prompts(wildcards, attempt):
    # word2sen samples 100+ sentences for each class; the other sets take seconds
    return (120 if wildcards.prompt == "word2sen" else 30) * attempt


def runtime_captions(wildcards, attempt):
    images = REAL_SHARD * CAPTION_SHARDS_PER_JOB
    return int(10 + RESOURCES["caption_minutes_per_1k_images"] * images / 1000) * attempt


# ---------------------------------------------------------------- prompt sets
def n_real_train_shards():
    if EMBEDDED:
        return math.ceil(DATA["train_size"] / REAL_SHARD)
    return len(_expand(DATA["train_shards"]))


def caption_chunk_shards(chunk):
    """The real train shards captioned by caption job ``chunk``."""
    lo = chunk * CAPTION_SHARDS_PER_JOB
    hi = min(lo + CAPTION_SHARDS_PER_JOB, n_real_train_shards())
    if EMBEDDED:
        return real_train_shards()[lo:hi]
    return [p for p in _expand(DATA["train_shards"])[lo:hi] if p not in _MISSING_PATHS]


def caption_tables():
    n = math.ceil(n_real_train_shards() / CAPTION_SHARDS_PER_JOB)
    return [f"{RES}/captions/train-{i:05d}.parquet" for i in range(n)]


def prompt_inputs(prompt):
    if prompt != "incap":
        return []
    return caption_tables() if CAPTIONER else real_train_shards()


def prompt_model(prompt):
    if prompt == "word2sen" and WORD2SEN:
        return external(WORD2SEN, "prompts.word2sen.path")
    return []


# ---------------------------------------------------------------- the CLIP study
CLIP = CFG["clip"]
CLIP_RUNS = C.clip_runs(CFG)
CLIP_TWINS = C.clip_twin_runs(CFG)
for _r in CLIP_TWINS.values():
    DATA_RUNS.setdefault(_r.data, _r)


def is_twins(run):
    """Whether a data run is the synthetic twins of a caption dataset (its 'prompt' is the dataset)."""
    return bool(CLIP) and run.prompt in CLIP["datasets"]


@functools.cache
def clip_sources(dataset):
    """All source shards of a caption dataset, in order (missing ones kept: they set the block layout)."""
    ds = CLIP["datasets"][dataset]
    if ds.get("embedded"):
        return tuple(CLIP_STEP.embedded_shards(f"{RES}/clip/data/{dataset}", DATA["train_size"], ds["shard_size"]))
    return _expand(ds["shards"])


def clip_n_blocks(dataset):
    return math.ceil(len(clip_sources(dataset)) / CLIP["datasets"][dataset]["shards_per_block"])


def clip_block_sources(dataset, block):
    spb = CLIP["datasets"][dataset]["shards_per_block"]
    return [p for p in clip_sources(dataset)[block * spb:(block + 1) * spb] if p not in _MISSING_PATHS]


def clip_blocks_for(dataset, scale):
    """How many blocks hold the first `scale` captions (by the dataset's shard_size)."""
    ds = CLIP["datasets"][dataset]
    n = math.ceil(int(scale) / (ds["shard_size"] * ds["shards_per_block"]))
    if n > clip_n_blocks(dataset):
        raise WorkflowError(f"CLIP scale {scale}: more captions than clip.datasets.{dataset} holds "
                            f"({len(clip_sources(dataset))} shards of about {ds['shard_size']}); lower the scale")
    return n


def clip_block_table(dataset, block):
    return f"{RES}/clip/captions/{dataset}/block-{int(block):05d}.parquet"


def clip_run_of(wildcards):
    try:
        return CLIP_RUNS[wildcards.crun]
    except KeyError:
        raise WorkflowError(f"'{wildcards.crun}' is not a CLIP run of this config (configured: "
                            f"{', '.join(CLIP_RUNS) or 'none: no clip section'})") from None


def clip_train_inputs(wildcards):
    """A CLIP run at a scale reads its blocks' caption tables (which name the source shards, the
    caption job's inputs) and, for syn and syn+real, the blocks' twin shards."""
    r = clip_run_of(wildcards)
    n = clip_blocks_for(r.dataset, wildcards.scale)
    twins = [f"{RES}/shards/{r.twins}/shard-{b:05d}.tar" for b in range(n)] if r.twins else []
    return {"blocks": [clip_block_table(r.dataset, b) for b in range(n)], "twins": twins,
            "manifests": manifests_of(twins)}


def clip_eval_inputs(wildcards):
    inputs = {
        "model": f"{RES}/clip/checkpoints/{wildcards.crun}/n{wildcards.scale}/model.pt",
        "val": val_shards(),
        "classes": classes_json(),
        "subsets": ood_subset_files(),
    }
    for name, paths in ood_sets().items():
        inputs[CLIP_STEP.OOD_PREFIX + name] = paths
    if CLIP["zero_shot"]["probes"]:
        for name, paths in probe_inputs().items():
            inputs[CLIP_STEP.PROBE_PREFIX + name] = paths
        inputs["classnames"] = [p for s in CFG["probes"].values() if s.get("classnames")
                                for p in external(s["classnames"], "probes.classnames")]
    inputs["manifests"] = manifests_of([inputs["model"], *inputs["val"], *(p for ps in ood_sets().values() for p in ps)])
    return inputs


def clip_run_params(wildcards):
    r = clip_run_of(wildcards)
    return {"name": r.name, "arm": r.arm, "dataset": r.dataset, "twins": r.twins}


def clip_study_evals(arm):
    r = C.clip_study_runs(CFG)[arm]
    return [f"{RES}/clip/eval/{r.name}/n{s}.json" for s in CLIP["study"]["scales"]]


def clip_sweep_evals():
    sw = CLIP["cfg_sweep"]
    tag = C.CLIP_ARM_TAGS[sw["arm"]]
    return [f"{RES}/clip/eval/{tag}_{C.clip_twins_name(sw['model'], g, sw['dataset'])}/n{sw['scale']}.json"
            for g in sw["guidance"]]


def runtime_clip(wildcards, attempt):
    from synscale.clip_recipe import pick_recipe

    r = pick_recipe(CLIP["train"], int(wildcards.scale))
    return int(10 + CLIP["train"]["minutes_per_1m_samples"] * r.steps * r.batch_size / 1e6) * attempt


def clip_resources(key):
    """A CLIP training job's SLURM request `key` (clip.train)."""
    return lambda wildcards: node_request(key, CLIP["train"])


def clip_targets():
    """The study's fits and summary (and the CFG sweep's table), when the study is in the default target."""
    if not CLIP or not CLIP["study"]["default_target"]:
        return []
    return [f"{RES}/clip/summary.csv"] + ([f"{RES}/clip/cfg_sweep.csv"] if CLIP["cfg_sweep"] else [])
