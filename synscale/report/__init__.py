"""Figures and tables for the HTML report: cross-run figures (``figures``), the summary and per-scale
tables with the paper's values where comparable (``tables``), a run's scaling plot (``plots``), a
run's per-class figures and Table A9 (``per_class_figures``) and the CLIP study's figures
(``clip_figures``). ``axes`` holds what they share: readable log axes and atomic saving
(``synscale.io.save_figure``).

May import: the layers below it (``t2i``, ``train``, ``prompts``, ``data``, ``config``, base).
"""
