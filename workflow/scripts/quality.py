"""Recognizability, diversity, FID and LPIPS of a synthetic test set (rule quality)."""
from synscale.steps import quality
from synscale.steps.job import run

run(snakemake, quality.quality, lists=("manifests", "weights"))
