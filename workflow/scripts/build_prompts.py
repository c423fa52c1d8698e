"""Build one prompt table."""
from synscale import logs, stages


def one(x):
    return x if isinstance(x, str) else x[0]


logs.setup(snakemake.log[0])
stages.build_prompts(snakemake.config, snakemake.wildcards.prompt, one(snakemake.input.classes),
                     list(snakemake.input.train), snakemake.output.table, snakemake.output.info,
                     threads=snakemake.threads)
