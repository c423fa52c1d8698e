"""Measure an external reference classifier on the real val set (rule evaluate_reference)."""
from synscale.steps import reference
from synscale.steps.job import run

run(snakemake, reference.evaluate_reference, lists=("val", "manifests"))
