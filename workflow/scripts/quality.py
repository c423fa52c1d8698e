"""Recognizability and diversity of a synthetic test set."""
from synscale import logs, stages

logs.setup(snakemake.log[0])
stages.quality(snakemake.config, snakemake.wildcards.run, snakemake.input.testset, snakemake.input.reference,
               snakemake.input.classes, snakemake.output[0], threads=snakemake.threads)
