"""The power law of one CLIP arm's zero-shot loss against captions (rule fit_clip)."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.fit_clip, lists=("evals",))
