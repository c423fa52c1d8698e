"""Per-class FID of a run on its training images, as App. G.4 measures it (rule per_class_fid)."""
from synscale.steps import quality
from synscale.steps.job import run

run(snakemake, quality.per_class_fid, lists=("shards", "manifests", "weights"))
