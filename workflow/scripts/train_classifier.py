"""Train a classifier from scratch on D images of a run (rule train_classifier)."""
from synscale.steps import train
from synscale.steps.job import run

run(snakemake, train.train_classifier, lists=("shards", "manifests", "index"))
