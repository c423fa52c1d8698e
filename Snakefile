# synscale: scaling laws of synthetic images for model training.
# Targets: results/scaling/{run}.json (one config's scaling law) -- see README.md.
from snakemake.utils import min_version

min_version("9.0")


# A --configfile given on the command line replaces the embedded default as a whole.
if not workflow.overwrite_configfiles:

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


onstart:
    # a real run (onstart is not called in a dry run) never runs with paths left out
    if ALLOW_MISSING:
        raise WorkflowError(
            "config key 'allow_missing_paths': only for a dry run (-n), to preview the jobs of a "
            "configuration whose local weights and data are not there yet; remove it to run"
        )


rule all:
    default_target: True
    input:
        final_targets(),
