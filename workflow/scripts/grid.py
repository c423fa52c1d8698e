"""Summarise the guidance sweep of the T2I families (rule grid)."""
from synscale.steps import grid
from synscale.steps.job import run

run(snakemake, grid.grid, lists=("quality",))
