"""Step of rule ``ledger``: ``ledger.csv`` (``synscale.ops.ledger``: a row per job of every rule with
a benchmark file) and the report's *Progress and cost* section (``synscale.report.cost``): the
ledger per rule and run, a bar chart of GPU-hours, and training curves from the ``*.loss.csv``
files beside the training jobs' records."""
from __future__ import annotations

import logging

log = logging.getLogger("synscale")


def ledger(job) -> list[dict]:
    from synscale.ops import ledger as L
    from synscale.report import cost as R

    rows = L.build(job.params["rules"], job.config)
    L.write_csv(rows, job.output["csv"])
    R.cost_html(rows, job.output["html"])
    R.cost_bars(rows, job.output["bars"])
    R.training_curves(R.loss_csvs(r["record"] for r in rows if r["rule"].startswith("train_")), job.output["curves"])
    untimed = sum(1 for r in rows if r["wall_s"] == "")
    log.info("ledger: %d job(s), %d without a benchmark file", len(rows), untimed)
    return rows
