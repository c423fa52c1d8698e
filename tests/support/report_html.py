"""What a built Snakemake report holds, read without a browser: its categories, each result's labels
and caption, the HTML results decoded, and the summary table's rows (``check_report`` runs the
checks the tiny-config report tests share)."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

CATEGORIES = ("0 Summary", "1 Scaling", "2 Quality", "3 Samples", "4 Per-class analysis", "7 Paper tables")
# the summary table's fit columns and the scaling JSON keys they show (4 significant digits)
FIT_COLUMNS = {"k": "k", "neg_log_L_at_DI": "neg_log_L_at_DI", "r2": "r2"}


def _script_var(html: str, script_id: str):
    m = re.search(r'<script id="%s">\s*var \w+ = ' % script_id, html)
    assert m, f"the report has no <script id={script_id!r}>"
    return json.JSONDecoder().raw_decode(html, m.end())[0]


def read_report(path: str | Path) -> tuple[dict, dict]:
    """(categories: {category: {subcategory: [result paths]}}, results: {path: record}) of a report."""
    html = Path(path).read_text(errors="replace")
    return _script_var(html, "categories"), _script_var(html, "results")


def embedded(record: dict) -> str:
    """The text of an embedded (HTML) result."""
    return base64.b64decode(record["data_uri"].split(",", 1)[1]).decode("utf-8")


def table_rows(html: str) -> dict[str, dict[str, str]]:
    """The rows of the first table in ``html`` keyed by their first cell: {column: cell text}."""
    header = re.findall(r"<th>(.*?)</th>", html)
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        cells = re.findall(r"<td>(.*?)</td>", tr)
        if cells:
            rows[cells[0]] = dict(zip(header, cells))
    return rows


def check_report(path: str | Path, results: Path, runs: dict[str, str]) -> None:
    """The report of a build holding ``runs`` ({run: model}): the categories, per run its scaling
    figure (labelled with its model) and, for a synthetic run, its sample grid, and the summary
    table's k, -log L at D_I and R^2 of every run as its scaling JSON holds them."""
    categories, recs = read_report(path)
    assert set(CATEGORIES) <= set(categories), sorted(categories)
    listed = {p for subs in categories.values() for ps in subs.values() for p in ps}
    assert listed == set(recs)
    scaling = {p for ps in categories["1 Scaling"].values() for p in ps}
    samples = {p for ps in categories["3 Samples"].values() for p in ps}
    for run, model in runs.items():
        fig = f"results/scaling/{run}.png"
        assert fig in scaling, (run, sorted(scaling))
        assert recs[fig]["mime_type"] == "image/png" and recs[fig]["labels"]["model"] == model
        assert recs[fig]["labels"]["figure"] == "scaling law"
        if model != "real":
            assert f"results/report/samples/{run}.png" in samples, (run, sorted(samples))
    assert recs["results/report/scaling_curves.png"]["labels"]["figure"] == "Fig. 3: scaling curves"
    rows = table_rows(embedded(recs["results/report/summary.html"]))
    assert set(rows) == set(runs)
    for run in runs:
        fit = json.loads((results / "scaling" / f"{run}.json").read_text())
        for col, key in FIT_COLUMNS.items():
            assert float(rows[run][col]) == pytest.approx(fit[key], rel=1e-3, abs=1e-9), (run, col)
