"""The CLIP study: synscale.steps.clip.main_block."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.main_block, lists=("shards", "manifests"))
