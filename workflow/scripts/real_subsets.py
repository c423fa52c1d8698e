"""Check the real scales against the data index and record their subsets (rule real_subsets)."""
from synscale.steps import data
from synscale.steps.job import run

run(snakemake, data.real_subsets, lists=("shards",))
