"""Zero-shot evaluation of one CLIP checkpoint (rule evaluate_clip)."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.evaluate_clip, lists=("val", "ood_*", "probe_*", "manifests", "subsets", "classnames"))
