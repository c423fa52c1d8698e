"""Fitting and reading results: the scaling law with its CIs, bootstrap and broken power law
(``fit``), the per-class analysis of §5 (``per_class``) and the guidance sweep's summary
(``guidance_sweep``). The command-line fitter of any table is ``synscale.analyze``.

May import: the layers below it (``t2i``, ``train``, ``prompts``, ``data``, ``config``, base).
"""
