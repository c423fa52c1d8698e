"""The captions of one block of a caption dataset, in order (rule clip_captions)."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.clip_captions, lists=("shards", "manifests"))
