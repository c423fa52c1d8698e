"""The CLIP arms side by side: Table 1 / A12, Fig. 9, A14 and A15 (rule clip_summary)."""
from synscale.steps import clip
from synscale.steps.job import run

run(snakemake, clip.clip_summary, lists=("fits",))
