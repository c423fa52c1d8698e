"""Evaluate a checkpoint on the real val split and the OOD sets, and probe it linearly (rule evaluate)."""
from synscale.steps import evaluate
from synscale.steps.job import run

run(snakemake, evaluate.evaluate, lists=("val", "subsets", "ood_*", "probe_*", "manifests"))
