"""Out-of-distribution sets that cover a subset of the classes (ImageNet-A and -R: 200 of 1,000):
the label indices scored, the other classes' logits masked."""
from __future__ import annotations

from pathlib import Path

from synscale.config.names import TIMM_SUBSETS


def class_subset(spec, n_classes: int, key: str) -> list[int] | None:
    """The label indices an OOD set covers: None (all), a list, a file of indices (one per line),
    or ``timm:imagenet_a`` / ``timm:imagenet_r`` (the index lists timm ships)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec in TIMM_SUBSETS:
            import timm.data

            path = Path(timm.data.__file__).parent / "_info" / TIMM_SUBSETS[spec]
        else:
            path = Path(spec)
        try:
            spec = [int(line) for line in path.read_text().split()]
        except FileNotFoundError:
            raise FileNotFoundError(f"config key '{key}' = {str(path)!r}: file not found") from None
        except ValueError:
            raise ValueError(f"config key '{key}': {path} must hold one integer label index per line") from None
    bad = [i for i in spec if not 0 <= i < n_classes]
    if bad:
        raise ValueError(f"config key '{key}': label indices {bad[:5]} are outside the {n_classes} classes")
    return sorted(set(spec))
