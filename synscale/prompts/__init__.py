"""Prompt sets (the paper's nine, ``sets``) and what builds them: WordNet glosses and hypernyms
(``wordnet``), the incap captioners (BLIP-2 or, on the embedded default, the image-statistics
captioner in ``statistics_captioner``) and word2sen's T5 sentences (``word2sen``).

May import: ``synscale.data``, ``synscale.config`` and the base modules.
"""
