"""The workflow's steps: one module per rule file of ``workflow/rules/`` and one function per rule.

Rule ``R`` in ``workflow/rules/X.smk`` runs ``workflow/scripts/R.py``, which calls
``synscale.steps.X.R(job)``. A step reads its inputs, calls the domain packages and writes its
outputs atomically with provenance; ``job`` holds exactly what the rule declares (inputs, outputs,
params with the config slice, threads, log), so a step can never depend on a config key its rule
does not pass. The keys of each slice are in ``steps.keys`` (read by the rules while the workflow
parses); ``steps.job`` unwraps what Snakemake hands a script and ``steps.common`` holds what every
step shares.

The top layer: steps import the domain packages, never one another (``lint-imports``).
"""
