"""Caption a chunk of real train shards with the configured BLIP-2, for prompt set incap (rule captions)."""
from synscale.steps import prompts
from synscale.steps.job import run

run(snakemake, prompts.captions, lists=("shards", "model"))
