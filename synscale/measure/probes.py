"""Linear probes (the paper's A.3): the trained classifier without its head extracts features of a
downstream dataset's splits, without augmentation, and an L-BFGS logistic regression
(scikit-learn, at most ``max_iter`` iterations) fitted on the train features is scored on the test
features by the dataset's Table A2 metric (``synscale.measure.probe_sets``): top-1 accuracy, or
mean per-class accuracy for Aircraft, Pets, Caltech-101 and Flowers.

The L2 regularisation follows the CLIP linear-probe protocol that Table A2 comes from: the inverse
strength C is chosen on a validation split (the dataset's own, else a seeded stratified share of
the train split) by a parametric search over log-spaced values -- a coarse grid every two decades
between ``c_min`` and ``c_max``, then halving the step around the best value until it is finer than
``1 / steps_per_decade`` decade -- and the probe is refitted with that C on train + val.

A probe dataset (config ``probes.<name>``) is one of:

* ``torchvision`` + ``root``: a ``torchvision.datasets`` class read from a local root with
  ``download=False``; ``train`` / ``val`` / ``test`` are the keyword arguments selecting each split
  (Table A2's, filled in for the paper's datasets);
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
    """The ``split`` ('train', 'val' or 'test') of a torchvision dataset read from its local root.
    For ``key`` = ``probes.<name>`` the split arguments are Table A2's where the probe is tied to a
    row (``probe_sets.resolve``); ValueError where the config departs from them."""
    import torchvision.datasets

    from synscale.measure.probe_sets import resolve

    name = spec["torchvision"]
    cls = getattr(torchvision.datasets, name, None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"config key '{key}.torchvision': torchvision.datasets has no dataset {name!r}")
    if key.startswith("probes."):
        spec = resolve(key[len("probes."):], spec)
    args = spec.get(split)
    if args is None:
        raise ValueError(f"config key '{key}.{split}': no {split} split given")
    try:
        return cls(root=spec["root"], download=False, transform=transform, **args)
    except (RuntimeError, FileNotFoundError, OSError) as e:
        raise FileNotFoundError(f"config key '{key}.root' = {spec['root']!r}: torchvision's {name} (split "
                                f"{args}) cannot read it ({e}); point it at a local copy in the layout "
                                f"torchvision.datasets.{name} expects") from None
    except TypeError as e:
        raise ValueError(f"config key '{key}.{split}': {args} are not {name}'s arguments ({e})") from None


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


def mean_per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Table A2's "mean per class": the share of each test class's samples predicted right,
    averaged over the classes present in ``y_true`` (scikit-learn's balanced accuracy)."""
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # predictions of classes absent from y_true
        return float(balanced_accuracy_score(y_true, y_pred))


def score(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """``metric`` ('top1' or 'mean_per_class') of the predictions."""
    if metric == "top1":
        return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
    if metric == "mean_per_class":
        return mean_per_class_accuracy(y_true, y_pred)
    raise ValueError(f"unknown probe metric {metric!r}; one of top1, mean_per_class")


def fit(x: np.ndarray, y: np.ndarray, c: float, max_iter: int):
    """(L-BFGS multinomial logistic regression fitted with inverse L2 strength ``c``, iterations)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(solver="lbfgs", max_iter=max_iter, C=c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    return clf, int(np.max(clf.n_iter_))


def search_c(objective: Callable[[float], float], c_min: float = 1e-6, c_max: float = 1e6,
             steps_per_decade: int = 8) -> tuple[float, list[dict]]:
    """(best C, every trial {C, score} in C order): ``objective`` (higher is better) at C every two
    decades from ``c_min`` to ``c_max``, then at half the step either side of the best so far, until
    the step is at most ``1 / steps_per_decade`` decade. Ties go to the smaller C (more regularised)."""
    lo, hi = np.log10(c_min), np.log10(c_max)
    if not hi >= lo:
        raise ValueError(f"c_min {c_min} > c_max {c_max}")
    trials: dict[float, float] = {}

    def at(e: float) -> None:
        e = round(float(e), 9)
        if lo - 1e-9 <= e <= hi + 1e-9 and e not in trials:
            trials[e] = float(objective(10.0 ** e))

    for e in [*np.arange(lo, hi, 2.0), hi]:
        at(e)
    step = 2.0
    while step > 1.0 / steps_per_decade + 1e-12:
        step /= 2
        best = max(trials, key=lambda e: (trials[e], -e))
        at(best - step)
        at(best + step)
    best = max(trials, key=lambda e: (trials[e], -e))
    return 10.0 ** best, [{"C": 10.0 ** e, "score": trials[e]} for e in sorted(trials)]


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 max_iter: int = 500, c: float = 1.0, metric: str = "top1") -> dict:
    """L-BFGS multinomial logistic regression with inverse L2 strength ``c`` on the train features,
    scored on the test features: ``score`` is ``metric``'s value; top-1 and mean per-class both kept."""
    clf, n_iter = fit(train_x, train_y, c, max_iter)
    pred = clf.predict(test_x)
    return {"metric": metric, "score": score(metric, test_y, pred), "top1": score("top1", test_y, pred),
            "mean_per_class": mean_per_class_accuracy(test_y, pred), "C": float(c), "n_train": int(len(train_y)),
            "n_test": int(len(test_y)), "n_classes": int(len(clf.classes_)), "iterations": n_iter,
            "converged": n_iter < max_iter}


def swept_probe(train: tuple, test: tuple, val: tuple | None = None, *, metric: str = "top1", max_iter: int = 500,
                c: float | None = None, c_min: float = 1e-6, c_max: float = 1e6, steps_per_decade: int = 8,
                val_fraction: float = 0.2, seed: int = 0, key: str = "probes") -> dict:
    """The paper's probe protocol on (features, labels) pairs: C chosen by ``search_c`` on ``val``
    (fitted on ``train``) -- without ``val``, on a seeded stratified ``val_fraction`` of ``train``
    (fitted on the rest) -- then the probe refitted on train + val with that C and scored on ``test``
    by ``metric``. A given ``c`` skips the search. The result records the metric, the C, its source
    and the sweep."""
    tx, ty = train
    final = train if val is None else (np.concatenate([tx, val[0]]), np.concatenate([ty, val[1]]))
    how: dict = {"C_source": "config", "validation": None, "sweep": [], "n_sweep_train": 0,
                 "n_val": 0 if val is None else int(len(val[1]))}
    if c is None:
        if val is not None:
            (fx, fy), (vx, vy) = train, val
            how["validation"] = "val split"
        else:
            fit_idx, val_idx = stratified_split(ty, 1.0 - val_fraction, seed)
            fx, fy, vx, vy = tx[fit_idx], ty[fit_idx], tx[val_idx], ty[val_idx]
            how["validation"] = f"held-out {val_fraction:g} of train (seeded, stratified)"
        if len(vy) == 0 or len(np.unique(fy)) < 2:
            raise ValueError(f"config key '{key}': too few samples to hold out a validation split for the "
                             f"regularisation sweep ({len(ty)} train); give more data, a val split, or a fixed C")

        def objective(ci: float) -> float:
            return score(metric, vy, fit(fx, fy, ci, max_iter)[0].predict(vx))

        c, trials = search_c(objective, c_min, c_max, steps_per_decade)
        how.update(C_source="sweep", sweep=trials, n_sweep_train=int(len(fy)), n_val=int(len(vy)))
    return {**linear_probe(*final, *test, max_iter=max_iter, c=c, metric=metric), **how}


def average(results: dict[str, dict]) -> float | None:
    """The probe average (the paper's downstream average): the mean over datasets of each one's
    Table A2 metric (``score``; top-1 for a result without one)."""
    vals = [r.get("score", r["top1"]) for r in results.values()]
    return float(np.mean(vals)) if vals else None


def subset(xs: Sequence, idx: np.ndarray) -> list:
    return [xs[i] for i in idx]
