"""Per-class analysis of a synthetic run (rule analysis)."""
from synscale.steps import analysis
from synscale.steps.job import run

run(snakemake, analysis.analysis, lists=("evals", "real_evals", "shards", "manifests"))
