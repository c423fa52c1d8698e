"""CLIP on one arm at one caption scale, on clip.train.nodes x gpus processes (rule train_clip)."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.train_clip, lists=("blocks", "twins", "manifests"))
