"""The embedded caption dataset: the train digits with their incap captions (rule clip_data_embedded)."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.clip_data_embedded, lists=("train", "manifests"))
