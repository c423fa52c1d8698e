"""Train the reference classifier on the real train split."""
from synscale.steps import reference
from synscale.steps.job import run

run(snakemake, reference.main, lists=("train", "val", "manifests"))
