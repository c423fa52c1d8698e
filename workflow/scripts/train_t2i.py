"""Train a tiny T2I model of the embedded default and save it as a diffusers pipeline."""
from synscale import logs, stages

logs.setup(snakemake.log[0])
stages.train_t2i(snakemake.config, snakemake.wildcards.model, list(snakemake.input.train),
                 snakemake.input.classes, snakemake.output[0], threads=snakemake.threads)
