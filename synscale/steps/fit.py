"""Step of rule ``fit``: the scaling law of one run over its scales (Eq. 2 of the paper)."""
from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np

from synscale.analysis.fit import fit_or_none
from synscale.io import write_json
from synscale.provenance import provenance
from synscale.seeds import seed_for
from synscale.steps.common import read_output

log = logging.getLogger("synscale")


def _point(scale: int, evals: list[dict]) -> dict:
    """One scale's point: the mean over its seeds' evaluations, with their spread."""
    loss = [e["val"]["loss"] for e in evals]
    return {"scale": scale, "val_loss": float(np.mean(loss)),
            "val_loss_std": float(np.std(loss, ddof=1)) if len(loss) > 1 else None,
            "val_top1": float(np.mean([e["val"]["top1"] for e in evals])), "n_seeds": len(evals),
            "seed_losses": loss if len(loss) > 1 else None,
            "ood": {k: {"loss": float(np.mean([e["ood"][k]["loss"] for e in evals])),
                        "top1": float(np.mean([e["ood"][k]["top1"] for e in evals]))} for k in evals[0]["ood"]}}


def fit_run(cfg: dict, run: dict, eval_jsons: Sequence[str], quality_json: str | None, out_json: str,
        out_png: str | None = None) -> dict:
    """``run``: name, model, guidance, prompt, fit_range and seed_runs of the run (rule params);
    ``eval_jsons``: its evaluations at every scale, and its seed variants' (each one observation)."""
    from synscale.analysis.fit import fit_series, in_range, per_class_k

    t0 = time.time()
    name = run["name"]
    evals = sorted((read_output(p, cfg) for p in eval_jsons), key=lambda e: e["scale"])
    by_scale: dict[int, list] = {}
    for e in evals:
        by_scale.setdefault(e["scale"], []).append(e)
    points = [_point(scale, es) for scale, es in sorted(by_scale.items())]
    fit_range = run["fit_range"]
    used = in_range(sorted(by_scale), fit_range)
    min_pts = cfg["fit"]["min_points"]
    if len(used) < min_pts:
        raise ValueError(f"{name}: {len(used)} scales inside fit range {fit_range}, need {min_pts}; "
                         "widen 'fit.range' (or the run's fit_range) or add scales")
    # every seed's evaluation is one observation of the fit; per-class k fits the per-class means
    sel = [e for e in evals if e["scale"] in used]
    scales = [e["scale"] for e in sel]
    d_i = cfg["fit"]["reference_scale"]
    boot_seed = seed_for(cfg["seed"], "fit", name)
    # the plain law and its CIs inside the fit range; the broken law over every measured point, so
    # a bend beyond the range (§4.4) can be found
    res = fit_series(scales, [e["val"]["loss"] for e in sel], d_i, seed=boot_seed,
                     all_scales=[e["scale"] for e in evals], all_values=[e["val"]["loss"] for e in evals])
    pck = per_class_k(used, [np.mean([e["val"]["per_class_loss"] for e in by_scale[s]], axis=0) for s in used], d_i)
    val_error = fit_or_none(scales, [1 - e["val"]["top1"] for e in sel], d_i)
    ood_fits = {ood: {"loss": fit_or_none(scales, [e["ood"][ood]["loss"] for e in sel], d_i),
                      "error": fit_or_none(scales, [1 - e["ood"][ood]["top1"] for e in sel], d_i)}
                for ood in sorted(sel[0]["ood"])}
    out = {
        "run": name,
        "model": run["model"], "guidance": run["guidance"], "prompt": run["prompt"],
        "reference_scale_D_I": d_i,
        "fit_range": list(fit_range) if fit_range else None,
        "fit_scales": used,
        **res,
        "loss_falls_with_scale": bool(all(a["val_loss"] > b["val_loss"] for a, b in zip(points, points[1:]))),
        "points": points,
        "seeds_per_scale": max(len(es) for es in by_scale.values()),
        "seed_runs": run.get("seed_runs", []),
        "val_error_fit": val_error,
        "ood_fits": ood_fits,
        "per_class": pck,
        "quality": None,
    }
    if quality_json:
        q = read_output(quality_json, cfg)
        out["quality"] = {k: q[k] for k in ("recognizability", "diversity", "accuracy",
                                             "per_class_recognizability", "per_class_diversity")}
    out["provenance"] = provenance(cfg, seeds={"training": "seed_for(seed, 'train', run, scale)",
                                                "bootstrap": boot_seed},
                                   wall_time_s=time.time() - t0)
    write_json(out_json, out)
    if out_png:
        from synscale.report.plots import scaling_plot

        scaling_plot(out, out_png)
    log.info("%s: k=%.3f -logL(D_I)=%.3f R2=%.3f", name, res["k"], res["neg_log_L_at_DI"], res["r2"])
    b = res["broken"]
    if b and b["preferred"]:
        log.info("%s: broken power law preferred (AICc %.1f vs %.1f over %d points): knee at %.4g, k %.3f -> %.3f",
                 name, b["aicc"], b["aicc_plain"], b["n_points"], b["knee_scale"], b["k_before"], b["k_after"])
    return out


SUMMARY_COLUMNS = ("run", "model", "family", "guidance", "prompt", "k", "k_ci_low", "k_ci_high",
                   "neg_log_L_at_DI", "r2", "largest_scale", "val_top1_at_largest", "recognizability", "diversity")


def summarize(cfg: dict, fit_jsons: Sequence[str], families: dict, out_csv: str) -> list[dict]:
    """One row per fitted run: k with its CI, -log L at D_I, R^2, top-1 at the largest scale and the
    run's synthetic-data quality; ``families``: model name -> T2I family."""
    import pandas as pd

    from synscale.io import atomic_path

    rows = []
    for p in fit_jsons:
        f = read_output(p, cfg)
        q = f.get("quality") or {}
        ci = f.get("k_ci") or [None, None]
        last = max(f["points"], key=lambda pt: pt["scale"])
        rows.append({"run": f["run"], "model": f["model"], "family": families.get(f["model"], "real data"),
                     "guidance": f["guidance"], "prompt": f["prompt"], "k": f["k"], "k_ci_low": ci[0],
                     "k_ci_high": ci[1], "neg_log_L_at_DI": f["neg_log_L_at_DI"], "r2": f["r2"],
                     "largest_scale": last["scale"], "val_top1_at_largest": last["val_top1"],
                     "recognizability": q.get("recognizability"), "diversity": q.get("diversity")})
    df = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    for r in rows:
        log.info("%s: k=%.3f [%s, %s]", r["run"], r["k"], r["k_ci_low"], r["k_ci_high"])
    return rows


def scaling_summary(job) -> list[dict]:
    return summarize(job.config, job.input["fits"], job.params["families"], job.output["csv"])


def fit(job) -> dict:
    quality = job.input["quality"]
    return fit_run(job.config, job.params["run"], job.input["evals"], quality[0] if quality else None,
               job.output["json"], job.output["png"])
