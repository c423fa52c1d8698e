"""Figures and tables for the HTML report: cross-run figures and the summary table (``figures``), a
run's scaling plot (``plots``) and the CLIP study's figures (``clip_figures``). Every figure is
saved with ``synscale.io.save_figure`` (atomic).

May import: the layers below it (``t2i``, ``train``, ``prompts``, ``data``, ``config``, base).
"""
