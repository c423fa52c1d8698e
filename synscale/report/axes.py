"""What every figure of the report shares: matplotlib on the Agg backend, log axes whose numbers stay
readable whatever range they span, and saving (``synscale.io.save_figure``, atomic)."""
from __future__ import annotations

import math

from synscale.io import save_figure

# log-axis ticks by the number of decades the axis spans: within half a decade every multiple of the
# decade is labelled (0.5, 0.6, ... 0.9), then 1-2-3-5, 1-2-5, and beyond three decades the decades
_SUBS_BY_SPAN = ((0.5, (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)), (1.5, (1.0, 2.0, 3.0, 5.0)),
                 (3.0, (1.0, 2.0, 5.0)))


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plain_number(value: float, _pos=None) -> str:
    """A short tick label: a loss as it is (0.5, 2), a data scale in thousands or millions (250,
    2k, 1.3M)."""
    for factor, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:g}{unit}"
    return f"{value:g}"


def readable_log_axes(ax) -> None:
    """Label the log axes of ``ax`` with numbers however short their range: matplotlib labels only
    powers of ten, so a loss that spans less than a decade (0.5 to 0.9) would show none. Call it once
    the data are drawn (the ticks follow the limits at that moment)."""
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    for axis, scale, limits in ((ax.xaxis, ax.get_xscale(), ax.get_xlim), (ax.yaxis, ax.get_yscale(), ax.get_ylim)):
        if scale != "log":
            continue
        lo, hi = sorted(limits())
        span = math.log10(hi / lo) if lo > 0 and hi > 0 else math.inf
        subs = next((s for limit, s in _SUBS_BY_SPAN if span <= limit), None)
        if subs is None:
            axis.set_major_locator(LogLocator(base=10.0))
            axis.set_major_formatter(LogFormatterSciNotation(base=10.0))
        else:
            from matplotlib.ticker import FuncFormatter

            axis.set_major_locator(LogLocator(base=10.0, subs=subs, numticks=50))
            axis.set_major_formatter(FuncFormatter(plain_number))
        axis.set_minor_formatter(NullFormatter())


def finish(fig, out_png, tight: bool = True) -> None:
    """Make every log axis of ``fig`` readable, lay it out and save it atomically."""
    for ax in fig.axes:
        readable_log_axes(ax)
    if tight:
        fig.tight_layout()
    save_figure(fig, out_png)
