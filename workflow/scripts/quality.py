"""Recognizability, diversity, FID and LPIPS of a synthetic test set."""
from synscale.steps import quality
from synscale.steps.job import run

run(snakemake, quality.main, lists=("manifests", "weights"))
