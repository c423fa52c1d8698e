"""Generate one synthetic shard, or the synthetic test set."""
from synscale.steps import generate
from synscale.steps.job import run

run(snakemake, generate.main, lists=("model",))
