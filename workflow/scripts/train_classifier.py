"""Train a classifier from scratch on the first D images of a run."""
from synscale.steps import train
from synscale.steps.job import run

run(snakemake, train.main, lists=("shards", "manifests"))
