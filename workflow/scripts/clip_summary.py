"""The CLIP study: synscale.steps.clip.main_summary."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.main_summary, lists=("fits"))
