"""Fit the scaling law of one run."""
from synscale import logs, stages

logs.setup(snakemake.log[0])
stages.fit(snakemake.config, snakemake.wildcards.run, list(snakemake.input.evals),
           snakemake.input.quality[0] if snakemake.input.quality else None,
           snakemake.output.json, snakemake.output.png)
