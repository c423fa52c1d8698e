"""Write the embedded default's real data as webdataset shards."""
from synscale.steps import data
from synscale.steps.job import run

run(snakemake, data.main, lists=("train", "val", "ood"))
