"""Build one prompt table."""
from synscale.steps import prompts
from synscale.steps.job import run

run(snakemake, prompts.main, lists=("train", "model"))
