"""Link the external reference classifier (reference_classifier.path) in place (rule reference_external)."""
from synscale.steps import reference
from synscale.steps.job import run

run(snakemake, reference.reference_external)
