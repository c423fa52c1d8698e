"""Quality of a generated image set, measured with the reference classifier.

* recognizability: per-class F1 of the reference classifier's predictions against the intended
  class, averaged over classes;
* diversity: per class, the standard deviation of the reference classifier's features over the
  class's images, averaged over feature dimensions, then over classes.
"""
from __future__ import annotations

import numpy as np
import torch


def per_class_f1(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """F1 of each class (0 for a class neither predicted nor present)."""
    from sklearn.metrics import f1_score

    return f1_score(target, pred, labels=np.arange(num_classes), average=None, zero_division=0.0)


def per_class_diversity(feats: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    div = np.full(num_classes, np.nan)
    for c in range(num_classes):
        f = feats[target == c]
        if len(f) > 1:
            div[c] = float(f.std(axis=0, ddof=1).mean())
    return div


def measure(logits: torch.Tensor, feats: torch.Tensor, labels, num_classes: int) -> dict:
    """Recognizability and diversity from the reference classifier's logits and pre-logit
    features of a synthetic set (``synscale.classifier.predict(..., features=True)``)."""
    labels = np.asarray(labels)
    pred = logits.argmax(1).numpy()
    feats = feats.numpy()
    f1 = per_class_f1(pred, labels, num_classes)
    div = per_class_diversity(feats, labels, num_classes)
    return {
        "n_images": int(len(labels)),
        "recognizability": float(f1.mean()),
        "diversity": float(np.nanmean(div)),
        "accuracy": float((pred == labels).mean()),
        "per_class_recognizability": f1.tolist(),
        "per_class_diversity": [None if np.isnan(d) else float(d) for d in div],
    }
