"""Text-to-image models, one module per family of the config: ``latent_diffusion`` (Stable Diffusion),
``pixel_cascade`` (Imagen / DeepFloyd IF), ``masked_token`` (Muse / aMUSEd) — each the embedded
default's tiny model, built and trained — plus ``tiny`` (what their training shares),
``samplers`` (every family's pipelines loaded from local ``save_pretrained`` directories) and
``generate`` (sampling a shard's images with per-batch seeds).

May import: ``synscale.data``, ``synscale.config`` and the base modules.
"""
