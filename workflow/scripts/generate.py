"""Generate one synthetic shard, or the synthetic test set."""
from synscale import logs, stages

logs.setup(snakemake.log[0])
shard = snakemake.params.get("shard") or int(snakemake.wildcards.shard)
model_dir = snakemake.input.model if isinstance(snakemake.input.model, str) else snakemake.input.model[0]
stages.generate(snakemake.config, snakemake.wildcards.run, shard, model_dir, snakemake.input.prompts,
                snakemake.input.classes, snakemake.output.tar, snakemake.output.manifest, threads=snakemake.threads)
