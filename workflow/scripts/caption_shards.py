"""Caption a chunk of real train shards with the configured BLIP-2 (prompt set incap)."""
from synscale.steps import prompts
from synscale.steps.job import run

run(snakemake, prompts.main_captions, lists=("shards", "model"))
