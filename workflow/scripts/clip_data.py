"""The CLIP study: synscale.steps.clip.main_data."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.main_data, lists=("train", "manifests"))
