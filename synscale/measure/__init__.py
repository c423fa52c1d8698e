"""Measuring image sets and classifiers: recognizability and diversity (``quality``), FID and LPIPS
(``perceptual``), linear probes (``probes``; Table A2's datasets, splits and metrics in
``probe_sets``), OOD class subsets (``ood``) and the reference classifier that measures
(``reference``).

May import: ``synscale.t2i``, ``synscale.train``, ``synscale.prompts``, ``synscale.data``,
``synscale.config`` and the base modules.
"""
