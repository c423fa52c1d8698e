"""Write the embedded default's real data as webdataset shards."""
from pathlib import Path

from synscale import logs, stages

logs.setup(snakemake.log[0])
stages.prepare_embedded_data(snakemake.config, Path(snakemake.output.classes).parent)
