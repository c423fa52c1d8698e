"""Step of rule ``grid``: the guidance sweep of the T2I families, summarised (CSV, JSON, figure)."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

from synscale.io import atomic_path, write_json
from synscale.provenance import provenance
from synscale.steps.common import read_output

log = logging.getLogger("synscale")


def summarize(cfg: dict, runs: dict, quality_jsons: Sequence[str], out_csv: str, out_json: str,
              out_png: str | None = None) -> dict:
    """``runs``: run name -> model, family, guidance, prompt (rule params); ``quality_jsons``: the
    runs' quality JSONs, named ``<run>.json``."""
    from synscale.analysis.guidance_sweep import correlations, grid_plot, summary_table

    t0 = time.time()
    by_name = {Path(p).stem: p for p in quality_jsons}
    missing = sorted(set(runs) - set(by_name))
    if missing:
        raise ValueError(f"grid: no quality JSON for runs {missing}")
    rows = []
    for name, r in runs.items():
        q = read_output(by_name[name], cfg)
        rows.append({"run": name, **r, **{k: q[k] for k in ("recognizability", "diversity", "accuracy", "n_images")},
                     **{k: q[k] for k in ("fid", "lpips") if k in q}})
    df = summary_table(rows)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    space = f"reference classifier {cfg['reference_classifier']['arch']}"
    out = {"feature_space": space, "n_configs": len(df), "spearman_guidance": correlations(df),
           "rows": df.to_dict(orient="records"),
           "provenance": provenance(cfg, wall_time_s=time.time() - t0)}
    write_json(out_json, out)
    if out_png:
        grid_plot(df, out_png, space)
    for model, c in out["spearman_guidance"].items():
        log.info("%s: Spearman(guidance, recognizability) %s, (guidance, diversity) %s", model,
                 c["all"]["recognizability"]["rho"], c["all"]["diversity"]["rho"])
    return out


def grid(job) -> dict:
    return summarize(job.config, job.params["runs"], job.input["quality"], job.output["csv"], job.output["json"],
                     job.output["png"])
