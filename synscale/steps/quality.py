"""Steps of rules ``val_features`` and ``quality``: the quality of a run's synthetic test set --
recognizability and diversity (reference classifier), FID against the real validation set and
LPIPS over same-class pairs (``synscale.perceptual``), overall and per class."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from synscale.data.integrity import check
from synscale.io import atomic_path, write_json
from synscale.measure.reference import load_reference, reference_loader
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


def compute_val_features(cfg: dict, val_shards, ref_ckpt, classes_json, out_pt, manifests=()) -> dict:
    """The real validation set's FID features, computed once for every run's quality."""
    import torch

    check([*val_shards, ref_ckpt], manifests)
    t0 = time.time()
    n_classes = len(load_classes(classes_json)["names"])
    model, device, amp = load_reference(cfg, ref_ckpt, n_classes)
    f, y, _ = fid_features(cfg, model, device, amp, reference_loader(cfg, val_shards, device))
    out = {"features": f.float(), "labels": y, "space": spaces(cfg, lpips=False)["fid_feature_space"],
           "provenance": provenance(cfg, wall_time_s=time.time() - t0)}
    with atomic_path(out_pt) as tmp:
        torch.save(out, tmp)
    log.info("validation features: %d x %d (%s)", *f.shape, out["space"])
    return out


def measure_testset(cfg: dict, run: str, testset, ref_ckpt, classes_json, val_pt, out_json, manifests=()) -> dict:
    """``manifests``: the test set's manifest and the reference classifier's (when trained here)."""
    import torch

    from synscale.data.loader import eval_transform
    from synscale.device import describe
    from synscale.measure.perceptual import ReferenceLPIPS, class_batches, fid, lpips, pairwise, torchmetrics_lpips
    from synscale.measure.quality import measure
    from synscale.train.classifier import predict

    check([testset, ref_ckpt], manifests)
    t0 = time.time()
    n_classes = len(load_classes(classes_json)["names"])
    model, device, amp = load_reference(cfg, ref_ckpt, n_classes)
    loader = reference_loader(cfg, [testset], device)
    lg, y, feats = predict(model, loader, amp, features=True)
    labels = y.numpy()
    q = measure(lg, feats, labels, n_classes)
    val = torch.load(val_pt, map_location="cpu", weights_only=True)
    if cfg["quality"]["fid"]["inception_weights"]:
        feats, _, _ = fid_features(cfg, model, device, amp, reference_loader(cfg, [testset], device))
    fq = fid(val["features"], val["labels"].numpy(), feats, labels, n_classes)
    lp = cfg["quality"]["lpips"]
    if lp["backbone_weights"]:
        distance = pairwise(torchmetrics_lpips(lp["net"], lp["backbone_weights"]).to(device))
    else:
        distance = ReferenceLPIPS(model)
    rc, d = cfg["reference_classifier"], cfg["data"]
    transform = eval_transform(rc["input_size"], d["channels"], rc["eval_crop_pct"])
    images = class_batches(testset, range(n_classes), transform, d["image_size"], d["channels"], lp["images_per_pass"])
    lq = lpips(distance, images, n_classes, lp["pairs_per_class"], seed_for(cfg["seed"], "lpips", run))
    out = {"run": run, **q, **fq, **lq, **spaces(cfg), **describe(device, amp),
           "provenance": provenance(cfg, seeds={"lpips_pairs": seed_for(cfg["seed"], "lpips", run)},
                                    wall_time_s=time.time() - t0)}
    write_json(out_json, out)
    log.info("%s: recognizability %.3f diversity %.3f FID %.3f LPIPS %.4f (%s)", run, q["recognizability"],
             q["diversity"], fq["fid"], lq["lpips"], out["fid_feature_space"])
    return out


def quality(job) -> dict:
    return measure_testset(job.config, job.params["run"], job.input["testset"], job.input["reference"],
                   job.input["classes"], job.input["val_features"], job.output["out"], job.input["manifests"])


def val_features(job) -> dict:
    return compute_val_features(job.config, job.input["val"], job.input["reference"], job.input["classes"],
                        job.output["out"], job.input["manifests"])
