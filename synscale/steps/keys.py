"""The configuration keys each rule's job reads: the slice a rule passes as ``params.config``.

Editing a key re-runs exactly the jobs whose slice holds it (Snakemake's params trigger). The rules
read these tuples while the workflow parses, so this module imports nothing heavy and no step.
"""
from __future__ import annotations

# the keys every step that decodes images depends on
IMAGE_KEYS = ("data.image_size", "data.channels")
# input-name prefixes of the OOD sets and the linear-probe datasets (rules evaluate, evaluate_clip)
OOD_PREFIX = "ood_"
PROBE_PREFIX = "probe_"
# the record rule train_t2i's step writes into the model directory it makes (read by the cost ledger)
T2I_RECORD = "synscale_training.json"

# rule data_embedded
DATA = ("seed", "data")
# rule index_real_data: the shards and the class index arrive as inputs
INDEX = ()
# rule real_subsets: the subsets' seed (the scales arrive as their own param)
REAL_SUBSETS = ("seed",)

# rule prompts: what every prompt table depends on; prompts(set) adds the options of one set
PROMPTS = ("seed", "data.source", "data.image_size", "data.channels")
_PROMPT_SET_KEYS = {
    "classname_hyper": ("prompts.hypernym_depth",),
    "classname_desc_places": ("prompts.places_per_class",),
    "classname_hyper_places": ("prompts.hypernym_depth", "prompts.places_per_class"),
    "word2sen": ("prompts.word2sen",),
    "incap": ("prompts.captioner",),
}
# rule captions
CAPTIONS = ("prompts.captioner",)


def prompts(prompt_set: str) -> tuple[str, ...]:
    """The config keys the table of ``prompt_set`` depends on: editing another set's options
    re-builds nothing of this one."""
    return PROMPTS + _PROMPT_SET_KEYS.get(prompt_set, ())


def t2i(model: str) -> tuple[str, ...]:
    """Rule train_t2i: a tiny T2I model depends on its family and train section."""
    return ("seed", *IMAGE_KEYS, f"models.{model}.family", f"models.{model}.train")


PER_MODEL = ("family", "steps", "batch_size", "dtype", "sr_steps", "sr_guidance", "noise_level", "guidance_schedule",
             # family diffusers (synscale.t2i.modern): its guidance semantics, size, refiner hand-over,
             # scheduler override and throughput switches
             "guidance", "resolution", "refiner_start", "scheduler", "channels_last", "vae_tiling", "compile")


def generate(model: str, testset: bool, twins: bool = False) -> tuple[str, ...]:
    """Rules generate_shard / generate_testset: a shard depends on the shard size, the test set on
    its size, a caption dataset's twin shard on its block's captions (an input); all on how the
    model samples (its weights arrive as an input)."""
    size = () if twins else ("generation.testset_per_class" if testset else "generation.shard_size",)
    return ("seed", *IMAGE_KEYS, *size, *(f"models.{model}.{k}" for k in PER_MODEL))


# rule train_reference
REFERENCE = ("seed", *IMAGE_KEYS, "reference_classifier")
# what reading the reference classifier depends on (rules quality, val_features, train_features,
# per_class_fid, evaluate_reference); ``path`` too: whether the weights are external decides the
# input normalisation when ``normalization`` is not given (their timm pretrained_cfg, else [-1, 1])
REFERENCE_MODEL = (*IMAGE_KEYS, *(f"reference_classifier.{k}" for k in (
    "arch", "kwargs", "input_size", "eval_crop_pct", "amp", "workers", "batch_size", "normalization", "min_val_top1",
    "path")))
# rule evaluate_reference: an external reference measured on the real val set
EVALUATE_REFERENCE = REFERENCE_MODEL
# rule val_features
VAL_FEATURES = (*REFERENCE_MODEL, "quality.fid")
# rule quality
QUALITY = (*REFERENCE_MODEL, "seed", "quality.fid", "quality.lpips")

# rule train_classifier: classifier keys that shape training (not eval_batch_size, which only
# evaluation reads)
CLASSIFIER_KEYS = ("arch", "kwargs", "batch_size", "max_device_batch", "lr", "weight_decay", "optimizer",
                   "warmup_lr", "min_lr", "loss", "label_smoothing", "mixup", "dropout", "drop_path", "augment",
                   "input_size", "amp", "nodes", "gpus", "workers", "shuffle_buffer", "checkpoint_every", "schedule")
TRAIN = ("seed", *IMAGE_KEYS, *(f"classifier.{k}" for k in CLASSIFIER_KEYS))


def train(real: bool) -> tuple[str, ...]:
    """A synthetic run's shards hold generation.shard_size images each; a real run reads the subset
    the data index selects (an input)."""
    return TRAIN if real else (*TRAIN, "generation.shard_size")


# rule evaluate
EVALUATE = ("seed", *IMAGE_KEYS, "data.ood", "probes", *(f"classifier.{k}" for k in (
    "arch", "kwargs", "dropout", "drop_path", "input_size", "eval_crop_pct", "eval_batch_size", "amp", "workers")))
# rules fit, scaling_summary
FIT = ("seed", "fit.reference_scale", "fit.min_points")
# rule analysis
ANALYSIS = ("analysis",)
# rule grid
GRID = ("grid", "reference_classifier.arch")
# rules report_figures, sample_grid
REPORT = ("report",)
SAMPLES = ("data.image_size", "data.channels")

# the CLIP study: rule clip_data_embedded
CLIP_DATA = ("seed", "data.image_size", "data.channels")
# rule train_clip: what shapes a CLIP run (not its SLURM runtime request, clip.train.minutes_per_1m_samples)
CLIP_TRAIN = ("seed", "clip.model", *(f"clip.train.{k}" for k in (
    "epochs", "recipes", "amp", "nodes", "gpus", "max_device_batch", "workers", "shuffle_buffer", "checkpoint_every")))
# rule evaluate_clip
CLIP_EVAL = ("seed", "clip.model", "clip.zero_shot", "clip.train.amp", "clip.train.workers", "data.ood", "probes")
# rule fit_clip
CLIP_FIT = ("seed", "fit.min_points")
