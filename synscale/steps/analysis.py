"""Step of rule ``analysis``: the per-class analysis of a synthetic run (``synscale.perclass``)."""
from __future__ import annotations

import logging
import time

from synscale.io import write_json
from synscale.provenance import provenance
from synscale.steps.common import load_classes, read_output

log = logging.getLogger("synscale")


def analyze_run(cfg: dict, fit_json: str, eval_json: str, quality_json: str, classes_json: str, out_json: str,
                out_png: str | None = None, real_fit_json: str | None = None,
                real_eval_json: str | None = None) -> dict:
    from synscale.analysis.per_class import analyze, plot

    t0 = time.time()
    a = cfg["analysis"]
    names = load_classes(classes_json)["names"]
    res = analyze(read_output(fit_json, cfg), read_output(eval_json, cfg), read_output(quality_json, cfg), names,
                  a["groups"]["k_quantile"], a["groups"]["accuracy_quantile"], a["list_size"],
                  real_fit=read_output(real_fit_json, cfg) if real_fit_json else None,
                  real_eval=read_output(real_eval_json, cfg) if real_eval_json else None)
    res["provenance"] = provenance(cfg, wall_time_s=time.time() - t0)
    write_json(out_json, res)
    if out_png:
        plot(res, out_png)
    c = res["correlations_with_k"]
    log.info("%s: Spearman(k, recognizability) %s, (k, diversity) %s; groups %s", res["run"],
             (c.get("recognizability") or {}).get("spearman"), (c.get("diversity") or {}).get("spearman"),
             {g: len(v) for g, v in res["groups"].items()})
    return res


def analysis(job) -> dict:
    real_fit, real_eval = job.input.get("real_fit"), job.input.get("real_eval")
    return analyze_run(job.config, job.input["fit"], job.input["last_eval"], job.input["quality"],
                       job.input["classes"], job.output["json"], job.output["png"], real_fit, real_eval)
