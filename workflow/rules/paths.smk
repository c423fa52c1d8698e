# Paths of the workflow's files, one function per family, all under the results root RES. Given
# names they give one file; given wildcard placeholders ("{run}", "{scale}") they give a rule's
# output pattern. Rules name their files through these only.


def _index(i):
    """A shard, chunk or block index as five digits; a wildcard placeholder as it is."""
    return i if str(i).startswith("{") else f"{int(i):05d}"


# ---------------------------------------------------------------- real data, prompts, T2I
def data_shards(split, n):
    """The embedded default's real shards of `split` (train, val, ood_sklearn_digits)."""
    return [f"{RES}/data/{split}-{i:05d}.tar" for i in range(n)]


def data_file(name):
    """The embedded default's class index (classes.json) and manifest (data.json)."""
    return f"{RES}/data/{name}"


def prompts_table(prompt, ext="parquet"):
    """A prompt set's table (its info: ext="json")."""
    return f"{RES}/prompts/{prompt}.{ext}"


def caption_table(chunk, ext="parquet"):
    """The captions of caption job `chunk` (its info: ext="json")."""
    return f"{RES}/captions/train-{_index(chunk)}.{ext}"


def t2i_model(model):
    """The pipeline directory of a tiny T2I model the workflow trains."""
    return f"{RES}/t2i/{model}"


def shard(run, i, ext="tar"):
    """Synthetic shard `i` of a run's images (its manifest: ext="json")."""
    return f"{RES}/shards/{run}/shard-{_index(i)}.{ext}"


def testset(run, ext="tar"):
    """A run's synthetic test set (its manifest: ext="json")."""
    return f"{RES}/testsets/{run}.{ext}"


# ---------------------------------------------------------------- classifiers and measures
def checkpoint(run, scale, name="model.pt"):
    """A classifier trained on `scale` images of a run (its train record: name="train.json")."""
    return f"{RES}/checkpoints/{run}/n{scale}/{name}"


def reference(name="model.pt"):
    """The reference classifier (the metrics of a trained one: name="metrics.json")."""
    return f"{RES}/reference/{name}"


def val_features():
    return f"{RES}/quality/val_features.pt"


def train_features():
    """FID features of every real training image (per-class FID, App. G.4)."""
    return f"{RES}/quality/train_features.pt"


def per_class_fid_json(run):
    """A run's per-class FID on its training images (App. G.4): one per image set."""
    return f"{RES}/quality/{C.data_name(run)}/per_class_fid.json"


def quality_json(run):
    """The quality of a run's test set: one per image set (a classifier tag is dropped)."""
    return f"{RES}/quality/{C.data_name(run)}.json"


def eval_json(run, scale):
    return f"{RES}/eval/{run}/n{scale}.json"


def scaling_json(run, ext="json"):
    """A run's scaling-law fit (its figure: ext="png")."""
    return f"{RES}/scaling/{run}.{ext}"


def scaling_summary_csv():
    return f"{RES}/scaling/summary.csv"


def analysis_json(run, ext="json"):
    """A run's per-class analysis (its figure: ext="png")."""
    return f"{RES}/analysis/{run}.{ext}"


def grid_summary(ext):
    """The guidance sweep's summary: csv, json, png."""
    return f"{RES}/grid/summary.{ext}"


def report_file(name):
    """The report's cross-run figures and tables (summary.html, scaling_curves.png, ...)."""
    return f"{RES}/report/{name}"


def sample_png(run):
    return f"{RES}/report/samples/{run}.png"


# ---------------------------------------------------------------- the CLIP study
def clip_data(dataset, name="data.json"):
    """An embedded caption dataset's manifest (its shards: clip_data_shards)."""
    return f"{RES}/clip/data/{dataset}/{name}"


def clip_data_shards(dataset, n, shard_size):
    """The shards of an embedded caption dataset of `n` samples."""
    return [str(Path(f"{RES}/clip/data/{dataset}") / f"shard-{i:05d}.tar") for i in range(-(-n // shard_size))]


def clip_block_table(dataset, block, ext="parquet"):
    """The captions of a caption dataset's block (its info: ext="json")."""
    return f"{RES}/clip/captions/{dataset}/block-{_index(block)}.{ext}"


def clip_checkpoint(crun, scale, name="model.pt"):
    """A CLIP run at a caption scale (its train record: name="train.json")."""
    return f"{RES}/clip/checkpoints/{crun}/n{scale}/{name}"


def clip_eval_json(crun, scale):
    return f"{RES}/clip/eval/{crun}/n{scale}.json"


def clip_scaling_json(arm, ext="json"):
    """A CLIP arm's fit (its figure: ext="png")."""
    return f"{RES}/clip/scaling/{arm}.{ext}"


def clip_summary(ext):
    """The CLIP arms side by side: csv, json, png."""
    return f"{RES}/clip/summary.{ext}"


def clip_sweep(ext):
    """The CLIP CFG sweep's table (csv) and figure (png)."""
    return f"{RES}/clip/cfg_sweep.{ext}"


def benchmark(rule, name):
    """A job's benchmark (wall time, memory): benchmarks/<rule>/<name>.tsv, `name` made of the job's
    wildcards, or naming what the job makes where its rule has none."""
    return f"{RES}/benchmarks/{rule}/{name}.tsv"


# ---------------------------------------------------------------- manifests
def manifests_of(paths):
    """The manifests covering these workflow-written files, which jobs check what they read
    against (synscale/data/integrity.py); a user's external data has none."""
    out = set()
    for p in paths:
        if p.startswith((f"{RES}/shards/", f"{RES}/testsets/")):
            out.add(p[: -len(".tar")] + ".json")
        elif p.startswith(f"{RES}/data/"):
            out.add(data_file("data.json"))
        elif p.startswith((f"{RES}/checkpoints/", f"{RES}/clip/checkpoints/")):
            out.add(str(Path(p).with_name("train.json")))
        elif p.startswith(f"{RES}/clip/data/"):
            out.add(str(Path(p).with_name("data.json")))
        elif p == reference() and not CFG["reference_classifier"]["path"]:
            out.add(reference("metrics.json"))
    return sorted(out)
