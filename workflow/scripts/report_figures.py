"""The report's cross-run figures and summary table."""
from synscale.steps import report
from synscale.steps.job import run

run(snakemake, report.main, lists=("fits", "evals", "quality", "paper"))
