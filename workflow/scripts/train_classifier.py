"""Train a classifier from scratch on the first D images of a run."""
from synscale import logs, stages

logs.setup(snakemake.log[0])
stages.train_at_scale(snakemake.config, snakemake.wildcards.run, int(snakemake.wildcards.scale),
                      list(snakemake.input.shards), snakemake.input.classes, snakemake.output.model,
                      snakemake.output.info, threads=snakemake.threads)
