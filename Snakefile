# synscale: scaling laws of synthetic images for model training.
# Targets: results/scaling/{run}.json (one config's scaling law) -- see README.md.
from snakemake.utils import min_version

min_version("9.0")


# A --configfile given on the command line replaces the embedded default as a whole (Snakemake reads
# that one before this file runs: `python -m synscale.config FILE` names a syntax error's line).
if not workflow.overwrite_configfiles:
    import sys
    from snakemake.exceptions import WorkflowError

    sys.path.insert(0, workflow.basedir)
    from synscale.config import ConfigError, load_yaml

    try:  # read by synscale first: a YAML syntax error named by file, line and column
        load_yaml("config/config.yaml")
    except ConfigError as e:
        raise WorkflowError(str(e)) from None

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/setup.smk"
include: "workflow/rules/paths.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/clip_inputs.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/prompts.smk"
include: "workflow/rules/t2i.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/quality.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/grid.smk"
include: "workflow/rules/clip.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/ledger.smk"


onstart:
    # a real run (onstart is not called in a dry run) never runs with paths left out
    if ALLOW_MISSING:
        raise WorkflowError(
            "config key 'allow_missing_paths': only for a dry run (-n), to preview the jobs of a "
            "configuration whose local weights and data are not there yet; remove it to run"
        )
    # before any job starts (Snakemake removes a job's old outputs as it starts it): SLURM's tools
    # are there for --profile slurm, and no input a job would read differs from its manifest
    from synscale.data import audit

    _stop = audit.before_run(workflow)
    if _stop:
        raise WorkflowError(_stop)


onerror:
    # a run stopped by SIGTERM in which no job failed is named that, not a failed job
    from synscale.data import audit

    _stop = audit.stopped(workflow)
    if _stop:
        raise WorkflowError(_stop)


rule all:
    default_target: True
    input:
        final_targets(),
