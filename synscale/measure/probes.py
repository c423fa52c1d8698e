"""Linear probes (the paper's A.3): the trained classifier without its head extracts features of a
downstream dataset's train and test splits, without augmentation, and an L-BFGS logistic
regression (scikit-learn, at most ``max_iter`` iterations) fitted on the train features is scored
on the test features.

A probe dataset (config ``probes.<name>``) is one of:

* ``torchvision`` + ``root``: a ``torchvision.datasets`` class read from a local root with
  ``download=False``; ``train`` / ``test`` are the keyword arguments selecting each split (e.g.
  ``{split: train}`` for DTD / Food101, ``{train: true}`` for CIFAR);
* ``train_shards`` + ``test_shards``: webdataset shards (brace patterns);
* ``embedded: sklearn_digits``: the embedded default's scikit-learn digits (the shards the workflow
  writes), split into train and test by a seeded stratified split (``train_fraction``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch


def probe_kind(spec: dict) -> str:
    if spec.get("embedded"):
        return "embedded"
    if spec.get("torchvision"):
        return "torchvision"
    return "shards"


def torchvision_split(spec: dict, split: str, transform: Callable, key: str):
    """The ``split`` ('train' or 'test') of a torchvision dataset read from its local root."""
    import torchvision.datasets

    name = spec["torchvision"]
    cls = getattr(torchvision.datasets, name, None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"config key '{key}.torchvision': torchvision.datasets has no dataset {name!r}")
    try:
        return cls(root=spec["root"], download=False, transform=transform, **spec[split])
    except (RuntimeError, FileNotFoundError, OSError) as e:
        raise FileNotFoundError(f"config key '{key}.root' = {spec['root']!r}: torchvision's {name} (split "
                                f"{spec[split]}) cannot read it ({e}); point it at a local copy in the layout "
                                f"torchvision.datasets.{name} expects") from None
    except TypeError as e:
        raise ValueError(f"config key '{key}.{split}': {spec[split]} are not {name}'s arguments ({e})") from None


def pil_transform(transform: Callable, channels: int) -> Callable:
    """Convert a PIL image to the classifier's channels, then ``transform`` it."""
    mode = "L" if channels == 1 else "RGB"

    def apply(img):
        return transform(img.convert(mode) if img.mode != mode else img)
    return apply


def stratified_split(labels: np.ndarray, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): ``train_fraction`` of each class to train, seeded."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(train_fraction * len(idx)))
        tr.append(idx[:k])
        te.append(idx[k:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(te))


@torch.no_grad()
def features(model: torch.nn.Module, batches, amp_dtype: torch.dtype = torch.float32) -> tuple[np.ndarray, np.ndarray]:
    """Pre-logit features (the model without its head) and labels over a loader's batches."""
    from synscale.train.classifier import predict

    _, y, f = predict(model, batches, amp_dtype, features=True)
    return f.numpy(), y.numpy()


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 max_iter: int = 500, c: float = 1.0) -> dict:
    """L-BFGS multinomial logistic regression on the train features, top-1 on the test features."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(solver="lbfgs", max_iter=max_iter, C=c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(train_x, train_y)
    pred = clf.predict(test_x)
    n_iter = int(np.max(clf.n_iter_))
    return {"top1": float((pred == test_y).mean()), "n_train": int(len(train_y)), "n_test": int(len(test_y)),
            "n_classes": int(len(clf.classes_)), "iterations": n_iter, "converged": n_iter < max_iter}


def average(results: dict[str, dict]) -> float | None:
    """The probe average (the paper's downstream average): mean top-1 over datasets."""
    vals = [r["top1"] for r in results.values()]
    return float(np.mean(vals)) if vals else None


def subset(xs: Sequence, idx: np.ndarray) -> list:
    return [xs[i] for i in idx]
