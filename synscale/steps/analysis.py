"""Step of rule ``analysis``: the per-class analysis of a synthetic run (``synscale.analysis.per_class``)
and its figures and table (``synscale.report.per_class_figures``)."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

from synscale.data.integrity import check
from synscale.io import atomic_path, write_json
from synscale.provenance import provenance
from synscale.steps.common import load_classes, read_output

log = logging.getLogger("synscale")


def analyze_run(cfg: dict, fit_json: str, eval_jsons: Sequence[str], quality_json: str, classes_json: str,
                shards: Sequence[str], out: dict[str, str], real_fit_json: str | None = None,
                real_eval_jsons: Sequence[str] = (), manifests: Sequence[str] = (),
                per_class_fid_json: str | None = None) -> dict:
    """``eval_jsons``: the run's evaluations at every scale (its seed variants' too);
    ``per_class_fid_json``: the run's per-class FID on training images (App. G.4); ``shards``: the
    first of its generated training shards, where the sample images come from; ``out``: json, png
    (Fig. 6), curves (Fig. 7), samples (Fig. 8), table (Table A9)."""
    from synscale.analysis.per_class import analyze, sample_images
    from synscale.report.per_class_figures import curves_figure, groups_figure, samples_figure, table_a9_html

    check(shards, manifests)
    t0 = time.time()
    a = cfg["analysis"]
    names = load_classes(classes_json)["names"]
    quality = read_output(quality_json, cfg)
    if per_class_fid_json:
        pc = read_output(per_class_fid_json, cfg)
        quality = {**quality, "per_class_fid": pc["per_class_fid"], "mean_class_fid": pc["mean_class_fid"]}
    res = analyze(read_output(fit_json, cfg), [read_output(p, cfg) for p in eval_jsons], quality, names, a,
                  real_fit=read_output(real_fit_json, cfg) if real_fit_json else None,
                  real_evals=[read_output(p, cfg) for p in real_eval_jsons])
    per_class = a["samples"]["per_class"]
    images = sample_images(shards, res["examples"]["classes"], per_class, cfg["data"]["image_size"],
                           cfg["data"]["channels"])
    short = {names[c]: len(v) for c, v in images.items() if len(v) < per_class}
    if short:
        log.warning("%s: fewer than %d sample images in %d shard(s) (analysis.samples.shards) for %s", res["run"],
                    per_class, len(shards), short)
    res["samples"] = {"shards": [Path(s).name for s in shards],
                      "per_class": {names[c]: len(v) for c, v in images.items()}}
    res["provenance"] = provenance(cfg, wall_time_s=time.time() - t0)
    write_json(out["json"], res)
    groups_figure(res, out["png"])
    curves_figure(res, out["curves"])
    samples_figure(res, images, per_class, out["samples"])
    with atomic_path(out["table"]) as tmp:
        Path(tmp).write_text(table_a9_html(res))
    c = res["correlations_with_k"]
    log.info("%s: Spearman(k, recognizability) %s, (k, diversity) %s; groups %s", res["run"],
             (c.get("recognizability") or {}).get("spearman"), (c.get("diversity") or {}).get("spearman"),
             {g: len(v) for g, v in res["groups"].items()})
    return res


def analysis(job) -> dict:
    return analyze_run(job.config, job.input["fit"], job.input["evals"], job.input["quality"], job.input["classes"],
                       job.input["shards"], dict(job.output), job.input.get("real_fit"),
                       job.input.get("real_evals", []), job.input.get("manifests", []),
                       job.input.get("per_class_fid"))
