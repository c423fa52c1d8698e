"""The report's tables:

* the summary across runs (k with its CIs, -log L at D_I, R², knee, top-1 and loss at D_I and at the
  largest scale, probe average, quality), with the paper's tabulated 1.3M grid beside it only where
  the data are the paper's (ImageNet-1k, D_I = 1.3M) and in the measured values' units;
* every evaluated scale of every run (the paper's Tables A7 and A8): real val loss and top-1, each
  linear probe, their average, each out-of-distribution set;
* a table as a small standalone HTML page (the Snakemake report embeds it).
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Sequence

SUMMARY_COLUMNS = ("run", "model", "guidance", "prompt", "scales", "k", "k_ci_low", "k_ci_high", "k_boot_low",
                   "k_boot_high", "neg_log_L_at_DI", "r2", "knee_scale", "val_loss_at_DI", "val_top1_at_DI",
                   "largest_scale", "val_top1_at_largest", "val_loss_at_largest", "probe_average",
                   "recognizability", "diversity", "fid", "lpips", "fid_feature_space", "lpips_feature_space")
# the paper's 1.3M grid (data/paper_grid_1p3M.csv): ImageNet val loss and top-1 (percent) at 1.3M
# images, and the quality of each config's images (fractions; FID with Inception-v3 features, LPIPS)
PAPER_COLUMNS = ("in_val_loss", "in_val_top1", "recognizability", "diversity", "fid", "lpips")
PAPER_SCALE = 1_300_000
PAPER_CLASSES = 1000
PAPER_SOURCE = "webdataset"


def _ci(fit: dict, key: str) -> list:
    v = fit.get(key)
    return list(v) if v else [None, None]


def _at(evals: Sequence[dict], scale: int | None) -> dict | None:
    """The val results at ``scale`` (the mean over seed evaluations there), or None if not measured."""
    here = [e["val"] for e in evals if e["scale"] == scale]
    if not here:
        return None
    return {k: sum(v[k] for v in here) / len(here) for k in ("loss", "top1")}


def summary_rows(runs: dict[str, dict], reference_scale: int) -> list[dict]:
    """One row per run from ``runs[name] = {"model", "guidance", "prompt", "fit" (scaling JSON or
    None), "last_eval" (evaluation JSON at the largest scale or None), "evals" (its evaluation JSONs
    at every scale, optional), "quality" (JSON or None)}``. -log L at D_I is the fit's intercept, or,
    for a run without a fit, minus the log of its val loss measured at D_I (the paper's 1.3M grid)."""
    rows = []
    for name, r in runs.items():
        fit, ev, q = r.get("fit"), r.get("last_eval"), r.get("quality") or {}
        evals = list(r.get("evals") or ([ev] if ev else []))
        row = {"run": name, "model": r["model"], "guidance": r["guidance"], "prompt": r["prompt"],
               "scales": len(fit["points"]) if fit else len({e["scale"] for e in evals})}
        at_di = _at(evals, reference_scale)
        if at_di:
            row.update(val_loss_at_DI=at_di["loss"], val_top1_at_DI=at_di["top1"],
                       neg_log_L_at_DI=-math.log(at_di["loss"]))
        if fit:
            (ci_lo, ci_hi), (b_lo, b_hi) = _ci(fit, "k_ci"), _ci(fit, "k_ci_boot")
            broken = fit.get("broken") or {}
            row.update(k=fit["k"], k_ci_low=ci_lo, k_ci_high=ci_hi, k_boot_low=b_lo, k_boot_high=b_hi,
                       neg_log_L_at_DI=fit["neg_log_L_at_DI"], r2=fit["r2"],
                       knee_scale=broken.get("knee_scale") if broken.get("preferred") else None)
        if ev:
            row.update(largest_scale=ev["scale"], val_top1_at_largest=ev["val"]["top1"],
                       val_loss_at_largest=ev["val"]["loss"], probe_average=ev.get("probe_average"))
        for m in ("recognizability", "diversity", "fid", "lpips", "fid_feature_space", "lpips_feature_space"):
            row[m] = q.get(m)
        rows.append(row)
    return rows


def paper_comparison(data_source: str, n_classes: int, reference_scale: int) -> str | None:
    """None where the paper's tabulated ImageNet values can stand beside the measured ones; else why not."""
    if data_source != PAPER_SOURCE or n_classes != PAPER_CLASSES:
        return (f"the data (data.source {data_source!r}, {n_classes} classes) are not ImageNet-1k, on which the "
                "paper measured its values")
    if reference_scale != PAPER_SCALE:
        return f"fit.reference_scale (D_I) is {reference_scale:,}; the paper tabulates its grid at {PAPER_SCALE:,}"
    return None


def paper_values(paper_csv: str | Path):
    """The paper's grid in the measured values' units: top-1 as a fraction (the paper prints percent)."""
    import pandas as pd

    paper = pd.read_csv(paper_csv)
    missing = [c for c in ("model", "cfg", "prompt", *PAPER_COLUMNS) if c not in paper.columns]
    if missing:
        raise ValueError(f"{paper_csv} (config key report.paper_table): columns {missing} missing; expected "
                         f"model, cfg, prompt, {', '.join(PAPER_COLUMNS)} as in data/paper_grid_1p3M.csv")
    paper = paper.rename(columns={"cfg": "guidance", **{c: f"paper_{c}" for c in PAPER_COLUMNS}})
    paper["paper_in_val_top1"] = paper["paper_in_val_top1"] / 100.0
    return paper[["model", "guidance", "prompt", *(f"paper_{c}" for c in PAPER_COLUMNS)]]


def summary_table(rows: Sequence[dict], paper_csv: str | Path | None = None):
    """The summary DataFrame. With ``paper_csv`` (only pass it where ``paper_comparison`` allows) the
    paper's values of the same (model, guidance, prompt) stand beside the measured ones as ``paper_*``:
    its ImageNet loss and top-1 (as a fraction) beside the values at D_I, for runs trained with the
    configured classifier (a run with its own classifier, ``-tag``, is not the paper's ViT-B); its FID
    and LPIPS only where they were measured in the paper's feature spaces (Inception-v3, LPIPS)."""
    import pandas as pd

    df = pd.DataFrame(list(rows)).reindex(columns=list(SUMMARY_COLUMNS))
    df["guidance"] = pd.to_numeric(df["guidance"]).astype(float)      # the real run's None: NaN
    if not paper_csv:
        return df
    df = df.merge(paper_values(paper_csv), on=["model", "guidance", "prompt"], how="left")
    own_classifier = df["run"].astype(str).str.contains("-", regex=False)
    df.loc[own_classifier, ["paper_in_val_loss", "paper_in_val_top1"]] = float("nan")
    df.loc[~df["fid_feature_space"].astype(str).str.startswith("inception"), "paper_fid"] = float("nan")
    df.loc[~df["lpips_feature_space"].astype(str).str.contains("LPIPS"), "paper_lpips"] = float("nan")
    return df


def per_scale_table(evals: Sequence[dict]):
    """Every evaluation, one row per (run, scale) (seed evaluations averaged): real val loss and top-1,
    each linear probe's score and their average, each out-of-distribution set's top-1 and loss."""
    import pandas as pd

    rows: dict[tuple, list[dict]] = {}
    for e in evals:
        rows.setdefault((e["run"], int(e["scale"])), []).append(e)
    out = []
    for (run, scale), es in sorted(rows.items()):
        row = {"run": run, "scale": scale, "seeds": len(es),
               "val_loss": _mean(e["val"]["loss"] for e in es), "val_top1": _mean(e["val"]["top1"] for e in es)}
        for name in sorted(es[0].get("probes") or {}):
            row[f"probe_{name}"] = _mean(_probe_score(e["probes"][name]) for e in es)
        row["probe_average"] = _mean(e.get("probe_average") for e in es)
        for name in sorted(es[0].get("ood") or {}):
            row[f"{name}_top1"] = _mean(e["ood"][name]["top1"] for e in es)
            row[f"{name}_loss"] = _mean(e["ood"][name]["loss"] for e in es)
        out.append(row)
    return pd.DataFrame(out)


def _probe_score(result: dict) -> float:
    """A probe's score: its metric of Table A2 where the evaluation records one, else its top-1."""
    return result.get("score", result["top1"])


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def table_html(df, title: str, note: str | None = None) -> str:
    """A table as a small standalone HTML page (the report embeds it); ``note``: a line under the title."""
    body = df.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-", border=0, classes="summary")
    para = f"<p>{html.escape(note)}</p>" if note else ""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + html.escape(title) + "</title><style>"
            "body{font-family:sans-serif;font-size:12px} table.summary{border-collapse:collapse}"
            "table.summary td,table.summary th{padding:3px 6px;border-bottom:1px solid #ddd;text-align:right}"
            "table.summary th{background:#f0f0f0}</style></head><body><h2>" + html.escape(title) + "</h2>" + para
            + body + "</body></html>")
