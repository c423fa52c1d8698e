"""Fit the scaling law of one run (rule fit)."""
from synscale.steps import fit
from synscale.steps.job import run

run(snakemake, fit.fit, lists=("evals", "quality"))
