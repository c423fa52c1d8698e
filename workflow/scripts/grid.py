"""Summarise the guidance sweep of the T2I families."""
from synscale.steps import grid
from synscale.steps.job import run

run(snakemake, grid.main, lists=("quality",))
