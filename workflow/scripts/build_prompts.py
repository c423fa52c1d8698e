"""Build one prompt table."""
from synscale import logs, stages

logs.setup(snakemake.log[0])
stages.build_prompts(snakemake.config, snakemake.wildcards.prompt, snakemake.input.classes,
                     list(snakemake.input.train), snakemake.output.table, snakemake.output.info)
