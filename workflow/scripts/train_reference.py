"""Train the reference classifier on the real train split (rule train_reference)."""
from synscale.steps import reference
from synscale.steps.job import run

run(snakemake, reference.train_reference, lists=("train", "val", "manifests"))
