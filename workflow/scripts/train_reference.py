"""Train the reference classifier on the real train split."""
from synscale import logs, stages

logs.setup(snakemake.log[0])
stages.train_reference(snakemake.config, list(snakemake.input.train), list(snakemake.input.val),
                       snakemake.input.classes, snakemake.output.model, snakemake.output.metrics,
                       threads=snakemake.threads)
