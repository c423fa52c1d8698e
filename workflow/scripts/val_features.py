"""FID features of the real validation set, once for every run's quality (rule val_features)."""
from synscale.steps import quality
from synscale.steps.job import run

run(snakemake, quality.val_features, lists=("val", "manifests", "weights"))
