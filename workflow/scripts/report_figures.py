"""The report's cross-run figures and summary table (rule report_figures)."""
from synscale.steps import report
from synscale.steps.job import run

run(snakemake, report.report_figures, lists=("fits", "evals", "quality", "paper"))
