"""Steps of rules ``report_figures`` and ``sample_grid``: the report's cross-run figures, its summary
table, the per-scale table and each run's sample grid (``synscale.report``)."""
from __future__ import annotations

import logging
from pathlib import Path

from synscale.io import atomic_path
from synscale.steps.common import load_classes, read_output

log = logging.getLogger("synscale")


def _write(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def figures(cfg: dict, runs: dict, fit_jsons: list[str], eval_jsons: list[str], quality_jsons: list[str],
            out: dict[str, str], paper_table: str | None = None, reference_metrics: str | None = None) -> dict:
    """``runs``: run name -> model, guidance, prompt, and the names of its fit / last evaluation /
    quality JSON and of its evaluations at every scale among the inputs (rule params). The paper's
    tabulated grid (``paper_table``) stands beside the measured values only where the data are the
    paper's (``synscale.report.tables.paper_comparison``). ``reference_metrics``: the reference
    classifier's val top-1 and loss and the normalisation it was fed, shown with the summary."""
    from synscale.report.eras import era_plane, era_scaling, era_table
    from synscale.report.figures import k_bars, ood_scaling, quality_plane, scaling_curves
    from synscale.report.tables import (
        paper_comparison,
        paper_values,
        per_scale_table,
        summary_rows,
        summary_table,
        table_html,
    )

    loaded = {p: read_output(p, cfg) for p in [*fit_jsons, *eval_jsons, *quality_jsons]}
    table = {}
    for name, r in runs.items():
        table[name] = {**{k: r[k] for k in ("model", "guidance", "prompt")},
                       **{k: loaded.get(r[k]) if r.get(k) else None for k in ("fit", "last_eval", "quality")},
                       "evals": [loaded[p] for p in r.get("evals", [])]}
    evals = [loaded[p] for p in eval_jsons]
    d_i = cfg["fit"]["reference_scale"]
    why_not = None
    if paper_table:
        n_classes = len(evals[0]["val"]["per_class_top1"]) if evals else 0
        why_not = paper_comparison(cfg["data"]["source"], n_classes, d_i)
        if why_not:
            log.warning("report.paper_table: the paper's values are not shown: %s", why_not)
    shown = paper_table if paper_table and not why_not else None
    df = summary_table(summary_rows(table, d_i), Path(shown) if shown else None)
    with atomic_path(out["csv"]) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    note = ("paper_*: the paper's tabulated values at 1.3M (top-1 as a fraction, like the measured values)" if shown
            else f"the paper's tabulated values are not shown: {why_not}" if why_not else None)
    ref = read_output(reference_metrics, cfg) if reference_metrics else None
    if ref:
        n = ref.get("normalization") or {}
        line = (f"reference classifier (recognizability, diversity): val top-1 {ref['val_top1']:.4f}, loss "
                f"{ref['val_loss']:.4f}, fed inputs normalised by mean {n.get('mean')} / std {n.get('std')} "
                f"({n.get('source', 'not recorded')})")
        note = f"{note}; {line}" if note else line
    _write(out["html"], table_html(df, "synscale: every run", note))
    per_scale = per_scale_table(evals)
    with atomic_path(out["per_scale_csv"]) as tmp:
        per_scale.to_csv(tmp, index=False, float_format="%.6g")
    _write(out["per_scale"], table_html(per_scale, "Tables A7, A8: every evaluated scale",
                                        "top-1 and probe scores as fractions; probe_*: each linear probe's metric "
                                        "(Table A2), probe_average their mean; *_top1, *_loss: the "
                                        "out-of-distribution sets"))
    # across eras: the paper's numbers always labelled as its own, comparable only where why_not is None
    paper = paper_values(paper_table) if paper_table else None
    eras = era_table(df, cfg["models"], paper)
    with atomic_path(out["eras_csv"]) as tmp:
        eras.to_csv(tmp, index=False, float_format="%.6g")
    caveat = ("" if paper is None else "the paper's rows: its own numbers, measured on ImageNet-1k at 1.3M"
              + (f", not comparable with the measured rows here: {why_not}" if why_not else ""))
    _write(out["eras"], table_html(eras, "across eras: each model's best configuration",
                                   "; ".join(x for x in (
                                       "measured here: the fitted run with the highest -log L at D_I per model "
                                       f"(D_I = {d_i:,}); guidance_meaning: cfg (classifier-free), distilled (an "
                                       "input of a guidance-distilled network), none (the model takes none: "
                                       "guidance 0)", caveat,
                                       "k of the paper's models: drawn in its Fig. 3, not tabulated, not shipped")
                                       if x)))
    era_plane(df, cfg["models"], out["era_plane"], paper, caveat)
    era_scaling(eras, out["era_scaling"], caveat)
    fits = [loaded[p] for p in fit_jsons]
    k_bars(fits, out["k_bars"])
    scaling_curves(fits, out["curves"])
    quality_plane(df, out["quality"])
    ood_scaling(fits, out["ood"])
    log.info("report figures for %d runs (%d fitted)", len(runs), len(fits))
    return {"runs": len(runs), "paper_values_shown": bool(shown),
            "reference_val_top1": ref["val_top1"] if ref else None}


def samples(cfg: dict, run: str, testset: str, classes_json: str, out_png: str) -> None:
    from synscale.data.shards import read_shard
    from synscale.report.figures import sample_grid

    d = cfg["data"]
    data = read_shard(testset, size=d["image_size"], channels=d["channels"])
    sample_grid(data.images, data.labels, load_classes(classes_json)["names"], out_png,
                f"{run}: synthetic test set (classes x images)")


def report_figures(job) -> dict:
    paper = job.input["paper"]
    return figures(job.config, job.params["runs"], job.input["fits"], job.input["evals"], job.input["quality"],
                   dict(job.output), paper[0] if paper else None, job.input.get("reference_metrics"))


def sample_grid(job) -> None:
    samples(job.config, job.params["run"], job.input["testset"], job.input["classes"], job.output["out"])
