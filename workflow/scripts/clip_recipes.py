"""Table A10: recipe S vs L on the real arm (rule clip_recipes)."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.clip_recipes, lists=("evals",))
