"""The workflow's steps: one module per rule file of ``workflow/rules/`` (``data``, ``prompts``,
``t2i``, ``generate``, ``reference``, ``quality``, ``train``, ``evaluate``, ``fit``).

Each step reads its inputs, calls the domain modules of the package and writes its outputs
atomically with provenance. A step's ``main(job)`` is what the rule's script calls; ``job`` holds
exactly what the rule declares (inputs, outputs, params with the config slice, threads, log), so a
step can never depend on a config key its rule does not pass.
"""
