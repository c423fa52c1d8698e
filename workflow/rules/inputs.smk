# Input functions: the real data a job reads (the embedded default's shards, or the local paths the
# configuration names) and what prompt tables, generation, training and evaluation read. The
# fits' and the analysis': targets.smk; the CLIP study's: clip_inputs.smk.


# ---------------------------------------------------------------- real data
def real_train_shards(n=None):
    if EMBEDDED:
        total = math.ceil(DATA["train_size"] / REAL_SHARD)
        return data_shards("train", total if n is None else min(n, total))
    paths = external_list(DATA["train_shards"], "data.train_shards")
    return paths if n is None else paths[:n]


def real_scales_by_key():
    """config key -> the real-data scales it asks for (rule real_subsets checks them)."""
    return {f"runs[{i}].scales": list(r["scales"]) for i, r in enumerate(CFG["runs"]) if r["model"] == C.REAL}


def check_real_scales():
    """Once the real data is indexed, a real scale larger than the data stops the workflow here,
    while it parses: before any job starts, in dry runs too. (Before the index exists, rule
    index_real_data runs first, at the top priority, and rule real_subsets refuses the scale.)"""
    path = Path(data_file("index.json"))
    if not path.is_file():
        return
    from synscale.data.index import check_scales

    try:
        index = json.loads(path.read_text())
    except ValueError:
        return  # a damaged index is refused by the jobs that read it
    try:
        check_scales(index, real_scales_by_key())
    except ValueError as e:
        raise WorkflowError(f"{e} (the real data's index: {path})") from None


check_real_scales()


def val_shards():
    if EMBEDDED:
        return data_shards("val", math.ceil(DATA["val_size"] / REAL_SHARD))
    return external_list(DATA["val_shards"], "data.val_shards")


def ood_sets():
    """name -> list of shard paths; names are the config keys under data.ood."""
    if EMBEDDED:
        return {"sklearn_digits": data_shards("ood_sklearn_digits", math.ceil(1797 / REAL_SHARD))}
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
        return data_file("classes.json")
    return external(DATA["class_index"], "data.class_index")


# ---------------------------------------------------------------- prompt sets
def n_real_train_shards():
    if EMBEDDED:
        return math.ceil(DATA["train_size"] / REAL_SHARD)
    return len(expand_braces(DATA["train_shards"]))


def caption_chunk_shards(chunk):
    """The real train shards captioned by caption job ``chunk``."""
    lo = chunk * CAPTION_SHARDS_PER_JOB
    hi = min(lo + CAPTION_SHARDS_PER_JOB, n_real_train_shards())
    if EMBEDDED:
        return real_train_shards()[lo:hi]
    return [p for p in expand_braces(DATA["train_shards"])[lo:hi] if p not in _MISSING_PATHS]


def prompt_inputs(prompt):
    if prompt != "incap":
        return []
    if not CAPTIONER:
        return real_train_shards()
    return [caption_table(i) for i in range(math.ceil(n_real_train_shards() / CAPTION_SHARDS_PER_JOB))]


def prompt_model(prompt):
    if prompt == "word2sen" and WORD2SEN:
        return external(WORD2SEN, "prompts.word2sen.path")
    return []


# ---------------------------------------------------------------- generation and training
def t2i_dir(model):
    """The pipeline directories of a model: its local weights (pixel_cascade: stage I and II), or
    the tiny model the workflow trains."""
    m = CFG["models"][model]
    if m["path"]:
        names = [k for k in C.MODEL_PATH_KEYS[m["family"]] if m.get(k)]
        return [p for k in names for p in external(m[k], f"models.{model}.{k}")]
    return [t2i_model(model)]


def generate_run(wildcards):
    """The image set a generation job samples: its name, T2I model, guidance and prompt set, and
    whether it is a caption dataset's twins (prompts: the block's captions)."""
    r = data_run(wildcards)
    return {"name": r.data, "model": r.model, "guidance": r.guidance, "prompt": r.prompt, "twins": is_twins(r)}


def shards_for(run, scale):
    """Training shards of run at scale: a prefix, so scales nest (runs that differ only in their
    classifier tag share them); for real data all train shards, of which the job reads the
    class-balanced subset the data index selects."""
    scale = int(scale)
    run = C.data_name(run)
    if run == C.REAL:
        return real_train_shards()
    return [shard(run, i) for i in range(C.shard_count(scale, GEN_SHARD))]


# ---------------------------------------------------------------- measures
def quality_weights(kind):
    """The local network weights FID ("fid") or LPIPS ("lpips") read, if the config names them."""
    key = {"fid": "inception_weights", "lpips": "backbone_weights"}[kind]
    path = CFG["quality"][kind][key]
    return external(path, f"quality.{kind}.{key}") if path else []


def trained_scale(run):
    """The largest scale any configured run trains on the images of `run` (0: none, an image set
    of the grid section only)."""
    data = C.data_name(run)
    return max((max(r.scales) for r in RUNS.values() if r.data == data and not r.is_real and r.scales), default=0)


def per_class_fid_scale(run):
    """How many of the run's training images per-class FID reads (App. G.4): quality.per_class_fid.scale
    (null: fit.reference_scale, D_I: the paper's 1.3M, 1,300 per class), at most what the run trains on."""
    return min(CFG["quality"]["per_class_fid"]["scale"] or CFG["fit"]["reference_scale"], trained_scale(run))


def per_class_fid_inputs(wildcards):
    """What a per-class FID job reads: the generated shards holding the run's first
    per_class_fid_scale images, the real training set's features, the reference classifier."""
    scale = per_class_fid_scale(wildcards.run)
    if not scale:
        raise WorkflowError(
            f"per_class_fid: '{wildcards.run}' has no generated training images (the real data, or a config of "
            "the grid section only); App. G.4 measures per-class FID on a synthetic run's training images: "
            "add the config under 'runs'"
        )
    shards = shards_for(wildcards.run, scale)
    return {
        "shards": shards,
        "train_features": train_features(),
        "reference": reference(),
        "reference_metrics": reference("metrics.json"),
        "classes": classes_json(),
        "weights": quality_weights("fid"),
        "manifests": manifests_of([*shards, reference()]),
    }


def eval_inputs(model, probes=True, classnames=False):
    """What evaluating checkpoint `model` reads: the real val split, the OOD sets (and their class
    subsets), the linear probes' data (and their class names) and the manifests of these."""
    ood = ood_sets()
    inputs = {"model": model, "val": val_shards(), "classes": classes_json(), "subsets": ood_subset_files()}
    for name, paths in ood.items():
        inputs[keys.OOD_PREFIX + name] = paths
    for name, paths in probe_inputs().items() if probes else ():
        inputs[keys.PROBE_PREFIX + name] = paths
    if classnames:
        specs = CFG["probes"].values()
        inputs["classnames"] = [
            p for s in specs if s.get("classnames") for p in external(s["classnames"], "probes.classnames")
        ]
    inputs["manifests"] = manifests_of([model, *inputs["val"], *(p for paths in ood.values() for p in paths)])
    return inputs


def evaluate_inputs(wildcards):
    return eval_inputs(checkpoint(wildcards.run, wildcards.scale))
