"""Generate one synthetic shard, or the synthetic test set."""
from synscale import logs, stages

logs.setup(snakemake.log[0])
shard = snakemake.params.get("shard") or int(snakemake.wildcards.shard)
stages.generate(snakemake.config, snakemake.wildcards.run, shard, snakemake.input.model, snakemake.input.prompts,
                snakemake.input.classes, snakemake.output.tar, snakemake.output.manifest, threads=snakemake.threads)
