"""Every run's scaling-law fit in one table (rule scaling_summary)."""
from synscale.steps import fit
from synscale.steps.job import run

run(snakemake, fit.scaling_summary, lists=("fits",))
