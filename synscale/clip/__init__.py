"""The CLIP study (§6): open_clip models, syn+real pairing and the contrastive training loop, zero-shot
scoring (``model``), and caption datasets read in blocks with their twins (``captions``).

May import: ``synscale.measure``, ``synscale.analysis``, ``synscale.report`` and every layer below.
"""
