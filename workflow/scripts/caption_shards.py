"""Caption a chunk of real train shards with the configured BLIP-2 (prompt set incap)."""
from synscale import logs, stages

logs.setup(snakemake.log[0])
stages.caption_shards(snakemake.config, list(snakemake.input.shards), snakemake.output.table, snakemake.output.info,
                      threads=snakemake.threads)
