"""The report's *Progress and cost* section: the ledger per rule and per run (an HTML table), a bar
chart of GPU-hours per rule and per run, and training curves (loss and learning rate against the
step) from the ``<output>.loss.csv`` files training jobs leave beside their outputs, when there are
any. Rows are the ledger's (``synscale.ops.ledger``: dicts with rule, run, gpus, wall_s,
gpu_hours, ...)."""
from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import Iterable, Sequence

from synscale.io import atomic_path
from synscale.report.axes import finish, pyplot

SHARED = "shared by runs"  # the run label of a job no single run owns


def _totals(rows: Iterable[dict], by: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in rows:
        t = out.setdefault(str(r.get(by) or SHARED), {"jobs": 0, "timed": 0, "wall_s": 0.0, "gpu_hours": 0.0})
        t["jobs"] += 1
        if r.get("wall_s") not in (None, ""):
            t["timed"] += 1
            t["wall_s"] += float(r["wall_s"])
            t["gpu_hours"] += float(r.get("gpu_hours") or 0)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["gpu_hours"]))


def cost_html(rows: Sequence[dict], out_html: str | Path) -> None:
    """The ledger per rule and per run: jobs, jobs with a benchmark file, wall hours, GPU-hours."""
    parts = ["<html><body>", f"<p>{len(rows)} job(s) in the ledger; "
             f"{sum(1 for r in rows if r.get('wall_s') in (None, ''))} without a benchmark file "
             "(counted, not timed).</p>"]
    shared = f"per run ({SHARED}: the T2I models, the reference, data, prompts)"
    for by, title in (("rule", "per rule"), ("run", shared)):
        parts.append(f"<h3>GPU-hours {html.escape(title)}</h3><table border='1' cellpadding='3'>"
                     "<tr><th>" + by + "</th><th>jobs</th><th>timed</th><th>wall hours</th><th>GPU-hours</th></tr>")
        for key, t in _totals(rows, by).items():
            parts.append(f"<tr><td>{html.escape(key)}</td><td>{t['jobs']}</td><td>{t['timed']}</td>"
                         f"<td>{t['wall_s'] / 3600:.4f}</td><td>{t['gpu_hours']:.4f}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    with atomic_path(out_html) as tmp:
        Path(tmp).write_text("\n".join(parts))


def cost_bars(rows: Sequence[dict], out_png: str | Path) -> None:
    """GPU-hours per rule and per run as horizontal bars."""
    plt = pyplot()
    per_rule, per_run = _totals(rows, "rule"), _totals(rows, "run")
    height = max(3.0, 0.28 * max(len(per_rule), len(per_run)) + 1.5)
    fig, axes = plt.subplots(1, 2, figsize=(12, height))
    for ax, data, title in ((axes[0], per_rule, "per rule"), (axes[1], per_run, "per run")):
        names = list(data)[::-1]
        ax.barh(names, [data[n]["gpu_hours"] for n in names], color="#4c72b0")
        ax.set_xlabel("GPU-hours (process-hours on a CPU)")
        ax.set_title(f"GPU-hours {title}")
        if not names:
            ax.text(0.5, 0.5, "no jobs in the ledger yet", ha="center", va="center", transform=ax.transAxes)
    finish(fig, out_png)


def read_loss_csv(path: str | Path) -> dict[str, list[float]]:
    """The step, loss and lr columns of a training job's loss CSV (rows that do not parse are
    skipped; a file without the columns gives empty lists)."""
    out: dict[str, list[float]] = {"step": [], "loss": [], "lr": []}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                vals = {k: float(row[k]) for k in ("step", "loss")}
                lr = float(row["lr"]) if row.get("lr") not in (None, "") else float("nan")
            except (KeyError, TypeError, ValueError):
                continue
            out["step"].append(vals["step"])
            out["loss"].append(vals["loss"])
            out["lr"].append(lr)
    return out


def loss_csvs(records: Iterable[str]) -> list[Path]:
    """The ``*.loss.csv`` files beside the training jobs' records (beside the record's directory too,
    where the output is that directory: a T2I model's ``<model dir>.loss.csv``)."""
    found: set[Path] = set()
    for rec in records:
        if rec:
            folder = Path(rec).parent
            found.update(folder.glob("*.loss.csv"))
            beside = folder.with_name(folder.name + ".loss.csv")
            if beside.is_file():
                found.add(beside)
    return sorted(found)


def training_curves(paths: Sequence[str | Path], out_png: str | Path, root: str | Path | None = None) -> None:
    """Loss and learning rate against the step of every loss CSV (a note when there are none)."""
    plt = pyplot()
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(12, 4.5))
    drawn = 0
    for p in paths:
        c = read_loss_csv(p)
        if not c["step"]:
            continue
        label = str(Path(p).relative_to(root)) if root and Path(p).is_relative_to(root) else Path(p).parent.name
        ax_loss.plot(c["step"], c["loss"], lw=1, label=label)
        ax_lr.plot(c["step"], c["lr"], lw=1)
        drawn += 1
    for ax, what in ((ax_loss, "training loss"), (ax_lr, "learning rate")):
        ax.set_xlabel("step")
        ax.set_ylabel(what)
        if not drawn:
            ax.text(0.5, 0.5, "no <output>.loss.csv beside the training outputs yet", ha="center", va="center",
                    transform=ax.transAxes)
    if drawn and drawn <= 12:
        ax_loss.legend(fontsize=6)
    ax_loss.set_title(f"training curves ({drawn} job(s))")
    finish(fig, out_png)
