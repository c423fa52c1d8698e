"""The CLIP CFG sweep, Table A11 (rule clip_cfg_sweep)."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.clip_cfg_sweep, lists=("evals",))
