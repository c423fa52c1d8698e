"""FID features of the real validation set, once for every run's quality."""
from synscale.steps import quality
from synscale.steps.job import run

run(snakemake, quality.main_val, lists=("val", "manifests", "weights"))
