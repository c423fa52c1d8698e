"""A deterministic captioner derived from the image itself (the embedded default's stand-in for
BLIP-2): stroke thickness, slant, size and position of the digit.

Thresholds are the tertiles of each measurement over the images being captioned, so the
vocabulary is balanced and a caption is a pure function of (image, population).
"""
from __future__ import annotations

import numpy as np

THICKNESS = ("thin", "medium", "thick")
SLANT = ("leaning left", "upright", "leaning right")
SIZE = ("small", "mid-sized", "large")


def measure(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image measurements of grey images N x H x W (uint8, ink bright)."""
    x = images.astype(np.float64) / 255.0
    if x.ndim == 4:
        x = x[..., 0]
    n, h, w = x.shape
    ys, xs = np.mgrid[0:h, 0:w]
    mass = x.sum(axis=(1, 2)) + 1e-8
    cy = (x * ys).sum(axis=(1, 2)) / mass
    cx = (x * xs).sum(axis=(1, 2)) / mass
    dy = ys[None] - cy[:, None, None]
    dx = xs[None] - cx[:, None, None]
    myy = (x * dy * dy).sum(axis=(1, 2)) / mass
    mxy = (x * dx * dy).sum(axis=(1, 2)) / mass
    # slant: horizontal shear per unit of height (positive: top leans right, image y points down)
    slant = -mxy / (myy + 1e-8)
    ink = x > 0.3
    rows = ink.any(axis=2)
    height = np.where(rows.any(axis=1), h - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1), 0)
    # thickness: ink area per unit of skeleton-ish length (height proxy)
    thickness = ink.sum(axis=(1, 2)) / np.maximum(height, 1)
    return {"thickness": thickness, "slant": slant, "height": height.astype(np.float64),
            "cx": (cx - (w - 1) / 2) / w, "cy": (cy - (h - 1) / 2) / h}


def _tertile(v: np.ndarray) -> np.ndarray:
    lo, hi = np.quantile(v, [1 / 3, 2 / 3])
    return np.where(v < lo, 0, np.where(v > hi, 2, 1))


def _position(cx: float, cy: float, tol: float) -> str:
    vert = "top" if cy < -tol else "bottom" if cy > tol else ""
    hor = "left" if cx < -tol else "right" if cx > tol else ""
    if not vert and not hor:
        return "centred"
    return "near the " + " ".join(p for p in (vert, hor) if p)


def caption_images(images: np.ndarray) -> list[str]:
    """One caption per image, e.g. 'thick strokes, leaning right, large, near the top left'."""
    m = measure(images)
    t, s, z = _tertile(m["thickness"]), _tertile(m["slant"]), _tertile(m["height"])
    tol = float(np.quantile(np.hypot(m["cx"], m["cy"]), 0.5))
    out = []
    for i in range(len(images)):
        pos = _position(m["cx"][i], m["cy"][i], tol)
        out.append(f"{THICKNESS[t[i]]} strokes, {SLANT[s[i]]}, {SIZE[z[i]]}, {pos}")
    return out
