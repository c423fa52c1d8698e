"""Fit the scaling law of one run."""
from synscale.steps import fit
from synscale.steps.job import run

run(snakemake, fit.main, lists=("evals", "quality"))
