# Input functions of the CLIP study: a caption dataset's source shards and blocks, what a CLIP run
# trains on and is evaluated on, and the evaluations the fits and the CFG sweep read; the paths of
# Table A10's runs and tables and of Fig. A15 (the CLIP study's files beyond paths.smk's).
import re

from synscale.clip import study as clip_study

# checked while the workflow parses: the fit's scales (clip.study.fit_range) and Table A10's runs
try:
    CLIP_FIT = (
        clip_study.fit_selection(CLIP["study"], CLIP["train"]["recipes"], CFG["fit"]["min_points"]) if CLIP else None
    )
    CLIP_RECIPES = clip_study.recipe_study(CLIP) if CLIP else None
except ValueError as e:
    raise WorkflowError(str(e)) from None
# the recipe wildcard of Table A10's rules: one of its recipe names
CLIP_RECIPE_RE = "|".join(re.escape(r) for r in CLIP_RECIPES["recipes"]) if CLIP_RECIPES else None


@functools.cache
def clip_sources(dataset):
    """All source shards of a caption dataset, in order (missing ones kept: they set the block layout)."""
    ds = CLIP["datasets"][dataset]
    if ds.get("embedded"):
        return tuple(clip_data_shards(dataset, DATA["train_size"], ds["shard_size"]))
    return expand_braces(ds["shards"])


def clip_n_blocks(dataset):
    return math.ceil(len(clip_sources(dataset)) / CLIP["datasets"][dataset]["shards_per_block"])


def clip_block_sources(dataset, block):
    spb = CLIP["datasets"][dataset]["shards_per_block"]
    return [p for p in clip_sources(dataset)[block * spb : (block + 1) * spb] if p not in _MISSING_PATHS]


def clip_blocks_for(dataset, scale):
    """How many blocks hold the first `scale` captions (by the dataset's shard_size)."""
    ds = CLIP["datasets"][dataset]
    n = math.ceil(int(scale) / (ds["shard_size"] * ds["shards_per_block"]))
    if n > clip_n_blocks(dataset):
        raise WorkflowError(
            f"CLIP scale {scale}: more captions than clip.datasets.{dataset} holds "
            f"({len(clip_sources(dataset))} shards of about {ds['shard_size']}); lower the scale"
        )
    return n


def clip_train_inputs(wildcards):
    """A CLIP run at a scale reads its blocks' caption tables (which name the source shards, the
    caption job's inputs) and, for syn and syn+real, the blocks' twin shards."""
    r = clip_run_of(wildcards)
    n = clip_blocks_for(r.dataset, wildcards.scale)
    twins = [shard(r.twins, b) for b in range(n)] if r.twins else []
    return {
        "blocks": [clip_block_table(r.dataset, b) for b in range(n)],
        "twins": twins,
        "manifests": manifests_of(twins),
    }


def clip_eval_inputs(wildcards):
    return clip_zero_shot_inputs(clip_checkpoint(wildcards.crun, wildcards.scale))


def clip_zero_shot_inputs(model):
    """Zero-shot evaluation reads what a classifier's evaluation reads; the linear probes (and
    their class names: the probes' files, clip.zero_shot.probe_classnames files) only with
    clip.zero_shot.probes."""
    probes = bool(CLIP["zero_shot"]["probes"])
    inputs = eval_inputs(model, probes=probes, classnames=probes)
    if probes:
        own = CLIP["zero_shot"]["probe_classnames"]
        inputs["classnames"] += [v for name, v in own.items() if isinstance(v, str) and name in CFG["probes"]]
    return inputs


def clip_run_params(wildcards):
    r = clip_run_of(wildcards)
    return {"name": r.name, "arm": r.arm, "dataset": r.dataset, "twins": r.twins}


def clip_study_evals(arm):
    r = C.clip_study_runs(CFG)[arm]
    return [clip_eval_json(r.name, s) for s in CLIP["study"]["scales"]]


def clip_sweep_evals():
    sw = CLIP["cfg_sweep"]
    tag = C.CLIP_ARM_TAGS[sw["arm"]]
    runs = [f"{tag}_{C.clip_twins_name(sw['model'], g, sw['dataset'])}" for g in sw["guidance"]]
    return [clip_eval_json(crun, sw["scale"]) for crun in runs]


# ---------------------------------------------------------------- Table A10 (clip.recipe_study), Fig. A15
def clip_recipe_checkpoint(recipe, scale, name="model.pt"):
    """The real arm at a caption scale trained with one recipe (its train record: name="train.json")."""
    return f"{RES}/clip/checkpoints/recipes/{recipe}/n{scale}/{name}"


def clip_recipe_eval_json(recipe, scale):
    return f"{RES}/clip/eval/recipes/{recipe}/n{scale}.json"


def clip_recipe_table(ext):
    """Table A10: csv, json, png."""
    return f"{RES}/clip/recipes.{ext}"


def clip_per_dataset(ext):
    """Fig. A15's data (csv) and figure (png)."""
    return f"{RES}/clip/per_dataset.{ext}"


def clip_recipe_train_inputs(wildcards):
    """A run of Table A10 reads the caption tables of the blocks holding its scale (real images only)."""
    ds = CLIP_RECIPES["dataset"]
    return {"blocks": [clip_block_table(ds, b) for b in range(clip_blocks_for(ds, wildcards.scale))]}


def clip_recipe_eval_inputs(wildcards):
    return clip_zero_shot_inputs(clip_recipe_checkpoint(wildcards.recipe, wildcards.scale))


def clip_recipe_evals():
    return [clip_recipe_eval_json(r, s) for s in CLIP_RECIPES["scales"] for r in CLIP_RECIPES["recipes"]]
