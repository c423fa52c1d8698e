"""synscale: scaling laws of synthetic images for model training, as a reproducible workflow.

Layers, top to bottom (each may import only the layers below it; enforced by ``lint-imports``,
contracts in ``pyproject.toml``):

- ``steps`` (one module per rule file), ``analyze`` and ``verify`` (command-line tools)
- ``clip`` (the CLIP study)
- ``measure``, ``analysis``, ``report``
- ``t2i``, ``train``, ``prompts``
- ``data``
- ``config``
- ``io``, ``logs``, ``device``, ``provenance``, ``seeds``
"""

__version__ = "0.1.0"
