"""Step of rule ``evaluate``: loss and top-1 of a trained classifier on the real val split and on
each out-of-distribution set (named by its config key), overall and per class. Sets that cover a
subset of the classes (ImageNet-A/R: 200 of 1,000) are scored with the other classes' logits masked."""
from __future__ import annotations

import logging
import time

from synscale import config as C
from synscale.data.integrity import check
from synscale.io import write_json
from synscale.measure.ood import class_subset
from synscale.provenance import provenance
from synscale.seeds import seed_for
from synscale.steps.common import load_classes
from synscale.steps.keys import OOD_PREFIX, PROBE_PREFIX

log = logging.getLogger("synscale")


def run_probes(cfg: dict, model, amp, device, cc: dict, tf, probe_inputs: dict[str, list[str]]) -> dict:
    """Linear probes on every dataset of ``probes`` (``synscale.measure.probes``): Table A2's splits
    and metric (``probe_sets``), C swept on a validation split; ``probe_inputs``: name -> the shards
    an embedded or webdataset probe reads."""
    from torch.utils.data import DataLoader

    from synscale.data.loader import ShardPart, make_loader
    from synscale.measure.probe_sets import record, resolve
    from synscale.measure.probes import (
        features,
        pil_transform,
        probe_kind,
        stratified_split,
        swept_probe,
        torchvision_split,
    )

    d = cfg["data"]
    out = {}
    specs = {name: resolve(name, spec) for name, spec in cfg["probes"].items()}  # fail before extracting
    for name, spec in specs.items():
        key = f"probes.{name}"

        def shards(paths):
            return make_loader([ShardPart(str(p)) for p in paths], cc["eval_batch_size"], d["image_size"],
                               d["channels"], tf, workers=min(cc["workers"], len(paths)),
                               pin_memory=device.type == "cuda")

        kind, val, splits = probe_kind(spec), None, None
        if kind == "embedded":
            f, y = features(model, shards(probe_inputs[name]), amp)
            tr, te = stratified_split(y, spec["train_fraction"], seed_for(cfg["seed"], "probe", name))
            train, test = (f[tr], y[tr]), (f[te], y[te])
            splits = {"train_fraction": spec["train_fraction"]}
        elif kind == "shards":
            train = features(model, shards(probe_inputs[name + "_train"]), amp)
            test = features(model, shards(probe_inputs[name + "_test"]), amp)
            splits = {"train": spec["train_shards"], "test": spec["test_shards"]}
        else:
            ptf = pil_transform(tf, d["channels"])
            parts = ["train", *(["val"] if spec.get("val") else []), "test"]
            feats = {s: features(model, DataLoader(torchvision_split(spec, s, ptf, key),
                                                   batch_size=cc["eval_batch_size"], num_workers=cc["workers"]), amp)
                     for s in parts}
            train, val, test = feats["train"], feats.get("val"), feats["test"]
            splits = {s: spec[s] for s in parts}
        sw = spec["sweep"]
        res = swept_probe(train, test, val, metric=spec["metric"], max_iter=spec["max_iter"], c=spec.get("C"),
                          c_min=sw["c_min"], c_max=sw["c_max"], steps_per_decade=sw["steps_per_decade"],
                          val_fraction=sw["val_fraction"], seed=seed_for(cfg["seed"], "probe-val", name), key=key)
        out[name] = {**res, "kind": kind, "splits": splits, "table_a2": record(spec)}
        row = out[name]["table_a2"]
        if row and (res["n_train"], res["n_test"]) != (row["n_train"], row["n_test"]):
            log.warning("probe %s: %d train / %d test images, Table A2's %s has %d / %d", name, res["n_train"],
                        res["n_test"], row["title"], row["n_train"], row["n_test"])
        log.info("probe %s: %s %.4f (C %.3g by %s; %d train, %d test)", name, res["metric"], res["score"], res["C"],
                 res["C_source"], res["n_train"], res["n_test"])
    return out


def evaluate_at_scale(cfg: dict, run: str, scale: int, ckpt, val_shards, ood: dict[str, list[str]],
                      classes_json, out_json, manifests=(), run_classifier: dict | None = None,
                      probe_inputs: dict[str, list[str]] | None = None) -> dict:
    """``ood``: name (config key under data.ood, or the embedded sklearn_digits) -> shard paths;
    ``manifests``: those covering the checkpoint and the real-data shards (checked first);
    ``probe_inputs``: the shards of the linear probes that read shards.
    Images stream through the loader at the classifier's evaluation crop, on the job's device."""
    from synscale.config import recipes as R
    from synscale.data.loader import ShardPart, eval_transform, make_loader
    from synscale.device import describe, job_device, place, resolve_dtype, work_record
    from synscale.measure.probes import average
    from synscale.train.classifier import load_checkpoint, predict, scores

    check([ckpt, *val_shards, *(p for paths in ood.values() for p in paths)], manifests)
    t0 = time.time()
    cc = C.run_classifier(cfg["classifier"], run_classifier)
    d = cfg["data"]
    n_classes = len(load_classes(classes_json)["names"])
    device = job_device()
    amp = resolve_dtype(cc["amp"], device)
    model = place(load_checkpoint(ckpt, cc["arch"], n_classes, d["channels"], R.model_kwargs(cc["arch"], cc)),
                  device)
    tf = eval_transform(cc["input_size"], d["channels"], cc["eval_crop_pct"])

    def run_on(paths, subset=None):
        loader = make_loader([ShardPart(str(p)) for p in paths], cc["eval_batch_size"], d["image_size"],
                             d["channels"], tf, workers=min(cc["workers"], len(paths)),
                             pin_memory=device.type == "cuda")
        lg, y, _ = predict(model, loader, amp)
        return scores(lg, y, n_classes, class_subset=subset)

    out = {"run": run, "scale": scale, "val": run_on(val_shards), "ood": {}}
    for name, paths in ood.items():
        spec = d["ood"].get(name, {}).get("class_subset")
        subset = class_subset(spec, n_classes, f"data.ood.{name}.class_subset")
        out["ood"][name] = {**run_on(paths, subset), "class_subset": None if subset is None else len(subset)}
    out["probes"] = run_probes(cfg, model, amp, device, cc, tf, probe_inputs or {})
    out["probe_average"] = average(out["probes"])
    out.update(describe(device, amp))
    scored = out["val"]["n"] + sum(v["n"] for v in out["ood"].values())
    out["work"] = work_record("images", scored, time.time() - t0, out, resolution=cc["input_size"])
    out["provenance"] = provenance(cfg, wall_time_s=time.time() - t0)
    write_json(out_json, out)
    log.info("%s D=%d: val loss %.4f top-1 %.4f", run, scale, out["val"]["loss"], out["val"]["top1"])
    return out


def evaluate(job) -> dict:
    ood = {k[len(OOD_PREFIX):]: v for k, v in job.input.items() if k.startswith(OOD_PREFIX)}
    probes = {k[len(PROBE_PREFIX):]: v for k, v in job.input.items() if k.startswith(PROBE_PREFIX)}
    return evaluate_at_scale(job.config, job.params["run"], int(job.params["scale"]), job.input["model"],
                             job.input["val"], ood, job.input["classes"], job.output["out"], job.input["manifests"],
                             run_classifier=job.params.get("classifier"), probe_inputs=probes)
