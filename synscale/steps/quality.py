"""Step of rule ``quality``: recognizability and diversity of a run's synthetic test set."""
from __future__ import annotations

import logging
import time

from ..integrity import check
from ..io import write_json
from ..provenance import provenance
from .common import load_classes
from .reference import MODEL_KEYS, load_reference, reference_loader

log = logging.getLogger("synscale")

KEYS = MODEL_KEYS


def quality(cfg: dict, run: str, testset, ref_ckpt, classes_json, out_json, manifests=()) -> dict:
    """``manifests``: the test set's manifest and the reference classifier's (when trained here)."""
    from ..classifier import predict
    from ..device import describe
    from ..quality import measure

    check([testset, ref_ckpt], manifests)
    t0 = time.time()
    n_classes = len(load_classes(classes_json)["names"])
    model, device, amp = load_reference(cfg, ref_ckpt, n_classes)
    lg, y, feats = predict(model, reference_loader(cfg, [testset], device), amp, features=True)
    q = measure(lg, feats, y.numpy(), n_classes)
    out = {"run": run, **q, **describe(device, amp), "provenance": provenance(cfg, wall_time_s=time.time() - t0)}
    write_json(out_json, out)
    log.info("%s: recognizability %.3f diversity %.3f", run, q["recognizability"], q["diversity"])
    return out


def main(job) -> dict:
    return quality(job.config, job.params["run"], job.input["testset"], job.input["reference"],
                   job.input["classes"], job.output["out"], job.input["manifests"])
