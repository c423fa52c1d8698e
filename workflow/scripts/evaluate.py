"""Evaluate a checkpoint on the real val split and the OOD sets."""
from pathlib import Path

from synscale import logs, stages

logs.setup(snakemake.log[0])
ood = {}
for p in snakemake.input.ood:
    ood.setdefault(Path(p).name.rsplit("-", 1)[0].removeprefix("ood_"), []).append(p)
stages.evaluate_at_scale(snakemake.config, snakemake.wildcards.run, int(snakemake.wildcards.scale),
                         snakemake.input.model, list(snakemake.input.val), ood, snakemake.input.classes,
                         snakemake.output[0], threads=snakemake.threads)
