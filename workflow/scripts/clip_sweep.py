"""The CLIP study: synscale.steps.clip.main_sweep."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.main_sweep, lists=("evals"))
