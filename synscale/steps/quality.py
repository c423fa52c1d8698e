"""Steps of rules ``val_features``, ``train_features``, ``per_class_fid`` and ``quality``: the quality
of a run's synthetic test set -- recognizability and diversity (reference classifier), FID against
the real validation set and LPIPS over same-class pairs (``synscale.measure.perceptual``), overall
and per class -- and per-class FID as App. G.4 measures it, on training images: a run's first
synthetic training images of each class against all real training images of that class
(``results/quality/<run>/per_class_fid.json``, key ``per_class_fid``; the test set's quality JSON
holds none)."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from synscale.data.integrity import check
from synscale.io import atomic_path, load_tensors, save_tensors, write_json
from synscale.measure.reference import (
    load_reference,
    reference_loader,
    reference_normalization,
    reference_transform,
    require_good_reference,
)
from synscale.provenance import provenance
from synscale.seeds import seed_for
from synscale.steps.common import load_classes

if TYPE_CHECKING:  # torch is imported where it is used: the workflow imports this module to parse
    import torch

log = logging.getLogger("synscale")

# what the real validation features depend on (rule val_features), and a run's quality (rule quality)


def fid_features(cfg: dict, model, device, amp, loader) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(FID features, labels, reference logits or None): Inception-v3 pool features with local
    weights (``quality.fid.inception_weights``), else the reference classifier's pre-logit features."""
    import torch

    from synscale.measure.perceptual import inception_extractor
    from synscale.train.classifier import predict

    weights = cfg["quality"]["fid"]["inception_weights"]
    if not weights:
        lg, y, f = predict(model, loader, amp, features=True)
        return f, y, lg
    ext = inception_extractor(weights)
    fs, ys = [], []
    for x, y in loader:
        fs.append(ext(x.to(device)).cpu())
        ys.append(torch.as_tensor(y))
    return torch.cat(fs), torch.cat(ys), None


def spaces(cfg: dict, lpips: bool = True) -> dict:
    from synscale.measure.perceptual import fid_space, lpips_space

    q, arch = cfg["quality"], cfg["reference_classifier"]["arch"]
    out = {"fid_feature_space": fid_space(q["fid"]["inception_weights"], arch)}
    if lpips:
        out["lpips_feature_space"] = lpips_space(q["lpips"]["backbone_weights"], q["lpips"]["net"], arch)
    return out


def compute_val_features(cfg: dict, val_shards, ref_ckpt, classes_json, out_pt, manifests=(),
                         ref_metrics=None, split: str = "validation", half: bool = False) -> dict:
    """The real validation set's FID features, computed once for every run's quality (``split``
    "training", ``half``: the real training set's, for every run's per-class FID, stored in float16:
    1.28M x 2,048 of them on ImageNet). ``ref_metrics``: the reference's val metrics, which must
    clear its floor."""
    check([*val_shards, ref_ckpt], manifests)
    t0 = time.time()
    n_classes = len(load_classes(classes_json)["names"])
    if ref_metrics:
        require_good_reference(cfg, ref_metrics, n_classes)
    model, device, amp = load_reference(cfg, ref_ckpt, n_classes)
    f, y, _ = fid_features(cfg, model, device, amp, reference_loader(cfg, val_shards, device))
    out = {"features": f.half() if half else f.float(), "labels": y,
           "space": spaces(cfg, lpips=False)["fid_feature_space"], "shards": [Path(p).name for p in val_shards],
           "provenance": provenance(cfg, wall_time_s=time.time() - t0)}
    with atomic_path(out_pt) as tmp:
        save_tensors(out, tmp)
    log.info("%s features: %d x %d (%s)", split, *f.shape, out["space"])
    return out


def measure_testset(cfg: dict, run: str, testset, ref_ckpt, classes_json, val_pt, out_json, manifests=(),
                    ref_metrics=None) -> dict:
    """``manifests``: the test set's manifest and the reference classifier's (when trained here);
    ``ref_metrics``: the reference's val metrics, which must clear its floor (and are recorded).
    Per-class FID is not measured on the test set (App. G.4: 50 images per class are too few for
    the covariance): rule per_class_fid measures it on training images."""

    from synscale.device import describe, work_record
    from synscale.measure.perceptual import (
        ReferenceLPIPS,
        class_batches,
        frechet_distance,
        lpips,
        pairwise,
        torchmetrics_lpips,
    )
    from synscale.measure.quality import measure
    from synscale.train.classifier import predict

    check([testset, ref_ckpt], manifests)
    t0 = time.time()
    n_classes = len(load_classes(classes_json)["names"])
    ref = require_good_reference(cfg, ref_metrics, n_classes) if ref_metrics else {}
    model, device, amp = load_reference(cfg, ref_ckpt, n_classes)
    loader = reference_loader(cfg, [testset], device)
    lg, y, feats = predict(model, loader, amp, features=True)
    labels = y.numpy()
    q = measure(lg, feats, labels, n_classes)
    val = load_tensors(val_pt, "validation features file")
    if cfg["quality"]["fid"]["inception_weights"]:
        feats, _, _ = fid_features(cfg, model, device, amp, reference_loader(cfg, [testset], device))
    fq = {"fid": frechet_distance(val["features"], feats)}
    lp = cfg["quality"]["lpips"]
    if lp["backbone_weights"]:
        distance = pairwise(torchmetrics_lpips(lp["net"], lp["backbone_weights"]).to(device))
    else:
        distance = ReferenceLPIPS(model)
    d = cfg["data"]
    transform = reference_transform(cfg)
    images = class_batches(testset, range(n_classes), transform, d["image_size"], d["channels"], lp["images_per_pass"])
    lq = lpips(distance, images, n_classes, lp["pairs_per_class"], seed_for(cfg["seed"], "lpips", run))
    dev = describe(device, amp)
    out = {"run": run, **q, **fq, **lq, **spaces(cfg), **dev,
           "work": work_record("images", len(labels), time.time() - t0, dev, resolution=cfg["data"]["image_size"]),
           "reference": {"normalization": reference_normalization(cfg), "val_top1": ref.get("val_top1"),
                         "val_loss": ref.get("val_loss")},
           "provenance": provenance(cfg, seeds={"lpips_pairs": seed_for(cfg["seed"], "lpips", run)},
                                    wall_time_s=time.time() - t0)}
    write_json(out_json, out)
    log.info("%s: recognizability %.3f diversity %.3f FID %.3f LPIPS %.4f (%s)", run, q["recognizability"],
             q["diversity"], fq["fid"], lq["lpips"], out["fid_feature_space"])
    return out


def quality(job) -> dict:
    return measure_testset(job.config, job.params["run"], job.input["testset"], job.input["reference"],
                   job.input["classes"], job.input["val_features"], job.output["out"], job.input["manifests"],
                   job.input.get("reference_metrics"))


def val_features(job) -> dict:
    return compute_val_features(job.config, job.input["val"], job.input["reference"], job.input["classes"],
                        job.output["out"], job.input["manifests"], job.input.get("reference_metrics"))


# ---------------------------------------------------------------- per-class FID (App. G.4)
PER_CLASS_FID_KEY = "quality.per_class_fid"


def measure_per_class_fid(cfg: dict, run: str, scale: int, largest_scale: int, shards, ref_ckpt, classes_json,
                          train_pt, out_json, manifests=(), ref_metrics=None) -> dict:
    """Per-class FID of a run as App. G.4 measures it: per class, the first ``scale // C`` synthetic
    training images of that class among the run's first ``shards`` (those holding its first
    ``scale`` images: generation cycles through the classes, so these are its first ``scale``
    images when ``scale`` fills whole shards) against every real training image of that class
    (``train_pt``, rule train_features), in the FID feature space. ``largest_scale``: the largest
    scale the run trains on (``scale`` is at most that), recorded."""
    import numpy as np

    from synscale.device import describe, work_record
    from synscale.measure.perceptual import first_per_class, require_images
    from synscale.measure.perceptual import per_class_fid as fid_of_each_class

    check([*shards, ref_ckpt], manifests)
    t0 = time.time()
    names = load_classes(classes_json)["names"]
    n_classes, least = len(names), cfg["quality"]["per_class_fid"]["min_images_per_class"]
    per_class = int(scale) // n_classes
    if per_class < least:
        raise ValueError(
            f"per-class FID of {run}: {scale} synthetic training images (at most the run's largest scale) "
            f"give {per_class} per class for {n_classes} classes, fewer than {PER_CLASS_FID_KEY}.min_images_per_class "
            f"= {least}; raise {PER_CLASS_FID_KEY}.scale (null: fit.reference_scale) and the run's largest scale, or "
            "lower the minimum")
    ref = require_good_reference(cfg, ref_metrics, n_classes) if ref_metrics else {}
    space = spaces(cfg, lpips=False)["fid_feature_space"]
    real = load_tensors(train_pt, "training features file", mmap=True)
    if real.get("space") != space:
        raise ValueError(f"{train_pt}: training features in {real.get('space')!r}, but FID is configured in "
                         f"{space!r}; delete the file and re-run snakemake")
    real_labels = real["labels"].numpy()
    require_images(np.bincount(real_labels, minlength=n_classes)[:n_classes], "real training", least, names,
                   f"{PER_CLASS_FID_KEY}.min_images_per_class")  # before reading the synthetic images
    model, device, amp = load_reference(cfg, ref_ckpt, n_classes)
    feats, labels, _ = fid_features(cfg, model, device, amp, reference_loader(cfg, shards, device))
    labels = labels.numpy()
    keep = first_per_class(labels, per_class, n_classes)
    dev = describe(device, amp)
    res = fid_of_each_class(real["features"], real_labels, feats[keep].half(), labels[keep], n_classes, least, names,
                            f"{PER_CLASS_FID_KEY}.min_images_per_class", device)
    out = {"run": run, **res, "images_per_class": per_class,
           "synthetic": {"source": "the run's generated training images: the first images_per_class of each class",
                         "scale": int(scale),
                         "run_largest_scale": int(largest_scale) if largest_scale is not None else None,
                         "shards": [Path(p).name for p in shards], "images_read": int(len(labels))},
           "real": {"source": "every real training image of each class (rule train_features)",
                    "features": Path(train_pt).name, "shards": list(real.get("shards", [])),
                    "images": int(len(real["labels"]))},
           "fid_feature_space": space,
           "reference": {"normalization": reference_normalization(cfg), "val_top1": ref.get("val_top1")},
           **dev,
           "work": work_record("images", len(labels), time.time() - t0, dev, resolution=cfg["data"]["image_size"]),
           "provenance": provenance(cfg, wall_time_s=time.time() - t0)}
    write_json(out_json, out)
    log.info("%s: per-class FID over %d classes, %d synthetic images per class, mean %.3f (%s)", run, n_classes,
             per_class, res["mean_class_fid"], space)
    return out


def train_features(job) -> dict:
    return compute_val_features(job.config, job.input["train"], job.input["reference"], job.input["classes"],
                                job.output["out"], job.input["manifests"], job.input.get("reference_metrics"),
                                split="training", half=True)


def per_class_fid(job) -> dict:
    return measure_per_class_fid(job.config, job.params["run"], job.params["scale"], job.params.get("largest_scale"),
                                 job.input["shards"], job.input["reference"], job.input["classes"],
                                 job.input["train_features"], job.output["out"], job.input["manifests"],
                                 job.input.get("reference_metrics"))
