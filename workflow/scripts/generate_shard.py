"""Generate one synthetic shard (rule generate_shard)."""
from synscale.steps import generate
from synscale.steps.job import run

run(snakemake, generate.generate_shard, lists=("model",))
