"""The workflow's DAG built in-process through Snakemake's API, as ``snakemake -n`` builds it (no
job runs): for tests that read the jobs' params, files or the workflow's refusal while it parses."""
from __future__ import annotations

from pathlib import Path

from support.repo import ROOT


def on_dag(configfile: Path, workdir: Path, read):
    """``read(dag)`` on the default target's DAG of ``configfile`` (built, no job runs)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
        StorageSettings,
    )

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf = api.workflow(resource_settings=ResourceSettings(cores=1), storage_settings=StorageSettings(),
                          config_settings=ConfigSettings(configfiles=[configfile]),
                          snakefile=ROOT / "Snakefile", workdir=workdir)
        workflow = wf.dag(DAGSettings()).workflow_api._workflow
        workflow._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        return read(workflow.dag)
