"""The cost ledger and the report's progress-and-cost section (rule ledger)."""
from synscale.steps import ledger
from synscale.steps.job import run

run(snakemake, ledger.ledger, lists=("done",))
