"""A run's sample grid for the report (rule sample_grid)."""
from synscale.steps import report
from synscale.steps.job import run

run(snakemake, report.sample_grid)
