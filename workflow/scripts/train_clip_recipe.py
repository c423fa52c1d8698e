"""Table A10: the real arm at one caption scale with one named recipe (rule train_clip_recipe)."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.train_clip_recipe, lists=("blocks",))
