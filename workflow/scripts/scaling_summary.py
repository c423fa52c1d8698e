"""Every run's scaling-law fit in one table."""
from synscale.steps import fit
from synscale.steps.job import run

run(snakemake, fit.main_summary, lists=("fits",))
