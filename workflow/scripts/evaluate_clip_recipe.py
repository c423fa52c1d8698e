"""Zero-shot evaluation of one CLIP of Table A10 (rule evaluate_clip_recipe)."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.evaluate_clip_recipe, lists=("val", "ood_*", "probe_*", "manifests", "subsets", "classnames"))
