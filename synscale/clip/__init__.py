"""The CLIP study (§6): open_clip models, syn+real pairing and the contrastive training loop, zero-shot
scoring (``model``), caption datasets read in blocks with their twins (``captions``), the per-dataset
class names and templates of the zero-shot evaluation (``zeroshot``), the fit range and Table A10's
runs (``study``) and the study's tables (``tables``).

May import: ``synscale.measure``, ``synscale.analysis``, ``synscale.report`` and every layer below.
"""
