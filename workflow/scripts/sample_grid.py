"""A run's sample grid for the report."""
from synscale.steps import report
from synscale.steps.job import run

run(snakemake, report.main_samples)
