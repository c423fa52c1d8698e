"""Generate the synthetic test set of a run (rule generate_testset)."""
from synscale.steps import generate
from synscale.steps.job import run

run(snakemake, generate.generate_testset, lists=("model",))
