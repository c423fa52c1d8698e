"""The CLIP study: synscale.steps.clip.main_train."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.main_train, lists=("blocks", "twins", "manifests"))
