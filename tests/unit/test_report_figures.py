"""The report's figures (synscale.report): readable log axes, Fig. 1's bars of k with their CIs, Fig. 2
coloured by -log L at D_I."""
import numpy as np
import pandas as pd
import pytest

from synscale.report import axes as A
from synscale.report import figures as F


def _labels(ax, axis="y"):
    """The non-empty tick labels matplotlib draws inside the axis' view."""
    ax.figure.canvas.draw()
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    ticks = ax.yaxis.get_majorticklabels() if axis == "y" else ax.xaxis.get_majorticklabels()
    i = 1 if axis == "y" else 0
    return [t.get_text() for t in ticks if t.get_visible() and t.get_text() and lo <= t.get_position()[i] <= hi]


def test_a_loss_spanning_less_than_a_decade_has_numbers_on_its_log_axis(tmp_path):
    plt = A.pyplot()
    fig, ax = plt.subplots()
    ax.loglog([250, 500, 1000, 2000], [0.9, 0.75, 0.6, 0.5], "o")
    A.finish(fig, tmp_path / "f.png")
    assert _labels(ax) == ["0.5", "0.6", "0.7", "0.8", "0.9"]
    assert _labels(ax, "x") == ["300", "500", "1k", "2k"]


def test_matplotlib_alone_leaves_that_axis_bare():
    """What the helper repairs: powers of ten only, none of them inside 0.5-0.9."""
    from matplotlib.ticker import NullFormatter

    plt = A.pyplot()
    fig, ax = plt.subplots()
    ax.loglog([250, 2000], [0.9, 0.5], "o")
    ax.yaxis.set_minor_formatter(NullFormatter())
    assert _labels(ax) == []
    plt.close(fig)


@pytest.mark.parametrize("lo,hi,decades", [(0.05, 3.0, False), (1e-3, 10.0, True)])
def test_wider_log_axes_stay_labelled(lo, hi, decades):
    plt = A.pyplot()
    fig, ax = plt.subplots()
    ax.semilogy([1, 2], [lo, hi], "o")
    A.readable_log_axes(ax)
    labels = _labels(ax)
    assert len(labels) >= 3
    assert all("10^" in t for t in labels) == decades      # beyond three decades: powers of ten
    plt.close(fig)


def test_plain_number():
    assert [A.plain_number(v) for v in (0.5, 250, 2000, 1_300_000, 64e6)] == ["0.5", "250", "2k", "1.3M", "64M"]


def _fit(run, k, ci, losses=(0.9, 0.75, 0.6, 0.5)):
    scales = [250, 500, 1000, 2000]
    return {"run": run, "model": run.split("_")[0], "k": k, "k_ci": ci, "ci_level": 0.95, "L_at_DI": 0.6,
            "reference_scale_D_I": 1000, "fit_scales": scales, "ood_fits": {},
            "points": [{"scale": s, "val_loss": v, "ood": {}} for s, v in zip(scales, losses)]}


@pytest.fixture
def captured(monkeypatch):
    """The figures the report functions finish (saved as usual)."""
    figs = []

    def keep(fig, out_png, tight=True):
        figs.append(fig)
        A.finish(fig, out_png, tight)

    monkeypatch.setattr(F, "finish", keep)
    return figs


def test_k_bars_sorted_with_their_intervals(tmp_path, captured):
    fits = [_fit("sd_cfg2_incap", 0.3, [0.2, 0.4]), _fit("real", 0.5, [0.45, 0.55]),
            _fit("muse_cfg0.3_incap", 0.1, None)]
    F.k_bars(fits, tmp_path / "k.png")
    ax = captured[0].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["muse_cfg0.3_incap", "sd_cfg2_incap", "real"]
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.1, 0.3, 0.5])
    segs = [s for c in ax.collections for s in c.get_segments()]       # one error bar per run with a CI
    ends = sorted(float(x) for s in segs for x in (s[0][0], s[1][0]))
    assert len(segs) == 2 and ends == pytest.approx([0.2, 0.4, 0.45, 0.55])
    assert "95% CI" in ax.get_xlabel()


def test_scaling_curves_have_readable_axes(tmp_path, captured):
    F.scaling_curves([_fit("sd_cfg2_incap", 0.3, [0.2, 0.4])], tmp_path / "c.png")
    assert _labels(captured[0].axes[0]) == ["0.5", "0.6", "0.7", "0.8", "0.9"]


def test_quality_plane_is_coloured_by_performance_at_DI(tmp_path, captured):
    df = pd.DataFrame({"run": ["a", "b", "c"], "recognizability": [0.5, 0.6, 0.7], "diversity": [0.8, 0.7, 0.6],
                       "fid": [3.0, 2.0, 1.0], "lpips": [0.7, 0.7, 0.6], "neg_log_L_at_DI": [-0.9, -0.5, None],
                       "fid_feature_space": ["x"] * 3})
    F.quality_plane(df, tmp_path / "q.png")
    fig = captured[0]
    coloured = fig.axes[0].collections[0]
    assert np.asarray(coloured.get_array()) == pytest.approx([-0.9, -0.5])    # 'c' has no value: hollow
    assert "-log L at D_I" in fig.axes[-1].get_ylabel()                       # the colour bar
