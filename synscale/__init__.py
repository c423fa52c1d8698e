"""synscale: scaling laws of synthetic images for model training, as a reproducible workflow."""

__version__ = "0.1.0"
