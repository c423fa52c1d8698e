"""Index the real train shards (rule index_real_data)."""
from synscale.steps import data
from synscale.steps.job import run

run(snakemake, data.index_real_data, lists=("shards", "manifests"))
