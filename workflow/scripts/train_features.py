"""FID features of every real training image, for every run's per-class FID (rule train_features)."""
from synscale.steps import quality
from synscale.steps.job import run

run(snakemake, quality.train_features, lists=("train", "manifests", "weights"))
