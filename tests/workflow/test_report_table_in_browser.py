"""Fast form of "the report holds a summary table across runs ... a test opens it in headless
Chromium": the summary table the report embeds, built from hand-made fit, evaluation and quality
records, is opened in Chromium, and the cells the browser shows are the records' values."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.subprocess


def _runs() -> dict:
    fit = {"k": 0.3125, "k_ci": [0.14, 0.46], "k_ci_boot": [0.12, 0.5], "neg_log_L_at_DI": 1.25, "r2": 0.875,
           "points": [{"scale": s} for s in (100, 200, 400)], "broken": {"preferred": False}}
    ev = {"scale": 400, "val": {"loss": 0.5, "top1": 0.75}, "probe_average": None}
    return {
        "sd_cfg2_incap": {"model": "sd", "guidance": 2, "prompt": "incap", "fit": fit, "last_eval": ev,
                          "evals": [{"scale": 200, "val": {"loss": 0.625, "top1": 0.5}}, ev],
                          "quality": {"recognizability": 0.9375, "diversity": 0.25, "fid": 10.5, "lpips": 1.5,
                                      "fid_feature_space": "reference <classifier>", "lpips_feature_space": "x"}},
        "real": {"model": "real", "guidance": None, "prompt": None, "fit": None, "last_eval": None, "evals": [],
                 "quality": None},
    }


def test_the_summary_table_shows_the_records_values_in_chromium(tmp_path):
    from selenium.webdriver.common.by import By
    from support.browser import chromium, wait_for

    from synscale.report.tables import summary_rows, summary_table, table_html

    page = tmp_path / "summary.html"
    page.write_text(table_html(summary_table(summary_rows(_runs(), reference_scale=200)), "0 Summary",
                               note="k < 1 & D_I = 200"))
    d = chromium()
    try:
        d.get(page.as_uri())
        rows = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "table.summary tbody tr"), what="the table rows")
        header = [th.text for th in d.find_elements(By.CSS_SELECTOR, "table.summary thead th")]
        cells = {r.find_elements(By.TAG_NAME, "td")[0].text: dict(zip(header, (td.text for td in
                                                                            r.find_elements(By.TAG_NAME, "td"))))
                 for r in rows}
        title, note = d.find_element(By.TAG_NAME, "h2").text, d.find_element(By.TAG_NAME, "p").text
    finally:
        d.quit()
    assert title == "0 Summary" and note == "k < 1 & D_I = 200"  # escaped, shown as text
    sd, real = cells["sd_cfg2_incap"], cells["real"]
    assert (sd["k"], sd["k_ci_low"], sd["k_ci_high"], sd["r2"]) == ("0.3125", "0.14", "0.46", "0.875")
    assert sd["neg_log_L_at_DI"] == "1.25" and sd["scales"] == "3"
    assert (sd["val_loss_at_DI"], sd["val_top1_at_DI"]) == ("0.625", "0.5")          # the evaluation at D_I = 200
    assert (sd["largest_scale"], sd["val_top1_at_largest"]) == ("400", "0.75")
    assert (sd["recognizability"], sd["fid"], sd["fid_feature_space"]) == ("0.9375", "10.5", "reference <classifier>")
    assert real["k"] == "-" and real["guidance"] == "-" and real["recognizability"] == "-"
