"""Build one prompt table (rule prompts)."""
from synscale.steps import prompts
from synscale.steps.job import run

run(snakemake, prompts.prompts, lists=("train", "model"))
