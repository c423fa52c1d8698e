"""The CLIP arms side by side: Table 1 / A12, Fig. 9 and A14 (rule clip_summary)."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.clip_summary, lists=("fits",))
