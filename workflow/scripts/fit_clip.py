"""The CLIP study: synscale.steps.clip.main_fit."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.main_fit, lists=("evals"))
