"""Write the embedded default's real data as webdataset shards (rule data_embedded)."""
from synscale.steps import data
from synscale.steps.job import run

run(snakemake, data.data_embedded, lists=("train", "val", "ood"))
