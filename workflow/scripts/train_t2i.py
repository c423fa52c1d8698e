"""Train a tiny T2I model of the embedded default and save it as a diffusers pipeline (rule train_t2i)."""
from synscale.steps import t2i
from synscale.steps.job import run

run(snakemake, t2i.train_t2i, lists=("train", "manifests"))
