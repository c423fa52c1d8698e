"""Training image classifiers: timm models and the training loop (``classifier``), the recipe's
torch objects (``optim``), resume checkpoints and the DDP wrapper shared with CLIP (``resume``),
and the multi-GPU / multi-node launcher (``launch``: torchrun, srun).

May import: ``synscale.data``, ``synscale.config`` and the base modules.
"""
