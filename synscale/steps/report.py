"""Steps of rules ``report_figures`` and ``sample_grid``: the report's cross-run figures, its summary
table and each run's sample grid (``synscale.report``)."""
from __future__ import annotations

import logging
from pathlib import Path

from synscale.io import atomic_path
from synscale.steps.common import load_classes, read_output

log = logging.getLogger("synscale")


def figures(cfg: dict, runs: dict, fit_jsons: list[str], eval_jsons: list[str], quality_jsons: list[str],
            out: dict[str, str], paper_table: str | None = None) -> dict:
    """``runs``: run name -> model, guidance, prompt, and the names of its fit / last evaluation /
    quality JSON among the inputs (rule params)."""
    from synscale.report.figures import (
        ood_scaling,
        quality_plane,
        scaling_curves,
        summary_rows,
        summary_table,
        table_html,
    )

    loaded = {p: read_output(p, cfg) for p in [*fit_jsons, *eval_jsons, *quality_jsons]}
    table = {}
    for name, r in runs.items():
        table[name] = {**{k: r[k] for k in ("model", "guidance", "prompt")},
                       **{k: loaded.get(r[k]) if r.get(k) else None for k in ("fit", "last_eval", "quality")}}
    fits = [loaded[p] for p in fit_jsons]
    paper = paper_table
    df = summary_table(summary_rows(table), Path(paper) if paper else None)
    with atomic_path(out["csv"]) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    html = table_html(df, "synscale: every run" + (" (paper_*: the paper's tabulated values)" if paper else ""))
    with atomic_path(out["html"]) as tmp:
        Path(tmp).write_text(html)
    scaling_curves(fits, out["curves"])
    quality_plane(df, out["quality"])
    ood_scaling(fits, out["ood"])
    log.info("report figures for %d runs (%d fitted)", len(runs), len(fits))
    return {"runs": len(runs)}


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
                   dict(job.output), paper[0] if paper else None)


def sample_grid(job) -> None:
    samples(job.config, job.params["run"], job.input["testset"], job.input["classes"], job.output["out"])
