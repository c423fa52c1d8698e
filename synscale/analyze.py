"""Fit the scaling law to any table: ``python -m synscale.analyze TABLE.csv --x scale --y COLUMN
--by config --reference-scale D_I [--range LO HI] [--transform error] [--json OUT]``.

For each group of rows (``--by``), the same fits the workflow's ``fit`` rule makes
(``synscale.analysis.fit.fit_series``): the OLS power law log y = -k (log x - log D_I) + log y(D_I)
with its 95% t-based CIs and 95% residual-bootstrap-t CIs on the rows with x inside ``--range``
(default: all rows), and a broken power law (one knee) over all rows with the knee's 95% profile
CI, preferred over the plain law on the same rows by AICc. ``--transform error`` fits 1 - y/100
(accuracies in percent); ``--transform error01`` fits 1 - y (accuracies in [0, 1]). Published or
external numbers fit just like the workflow's own.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from synscale.analysis.fit import fit_series

TRANSFORMS = {"none": lambda v: v, "error": lambda v: 1.0 - v / 100.0, "error01": lambda v: 1.0 - v}


def fit_table(df, x: str, y: str, by: str | None, reference_scale: float, transform: str = "none",
              n_boot: int = 2000, seed: int = 0, fit_range=None) -> dict:
    """group -> fit (``fit_series``) of ``transform(y)`` against ``x``: the plain law on the rows
    with x inside ``fit_range`` ([lo, hi], None: all), the broken law on all rows; groups with fewer
    than two distinct x in the range get an 'error' entry instead."""
    for col in [x, y] + ([by] if by else []):
        if col not in df.columns:
            raise KeyError(f"column {col!r} not in the table (columns: {', '.join(map(str, df.columns))})")
    if transform not in TRANSFORMS:
        raise ValueError(f"--transform {transform!r}: one of {sorted(TRANSFORMS)}")
    groups = df.groupby(by, sort=True) if by else [("all", df)]
    out = {}
    for name, g in groups:
        g = g.dropna(subset=[x, y]).sort_values(x)
        xs, vals = g[x].to_numpy(dtype=float), TRANSFORMS[transform](g[y].to_numpy(dtype=float))
        sel = np.ones(len(xs), bool) if not fit_range else (xs >= fit_range[0]) & (xs <= fit_range[1])
        key = str(name[0] if isinstance(name, tuple) else name)
        if len(np.unique(xs[sel])) < 2:
            where = f" inside --range {fit_range[0]:g} {fit_range[1]:g}" if fit_range else ""
            out[key] = {"error": f"{len(np.unique(xs[sel]))} distinct {x} values{where}; a fit needs 2"}
            continue
        try:
            out[key] = {"n": int(sel.sum()), "fit_range": list(fit_range) if fit_range else None,
                        "fit_scales": sorted(set(xs[sel].tolist())),
                        **fit_series(xs[sel], vals[sel], reference_scale, n_boot=n_boot, seed=seed,
                                     all_scales=xs, all_values=vals)}
        except ValueError as e:
            out[key] = {"error": str(e)}
    return out


def _fmt_ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "-"


def report(results: dict, y: str, reference_scale: float) -> str:
    """A plain-text table of the fits, one line per group (plus the knee where preferred)."""
    lines = [f"{'group':<28} {'n':>3} {'k':>7} {'95% CI':>18} {'bootstrap CI':>18} {'-log y(D_I)':>11} {'R2':>6}"]
    for g, r in results.items():
        if "error" in r:
            lines.append(f"{g:<28} {r['error']}")
            continue
        lines.append(f"{g:<28} {r['n']:>3} {r['k']:>7.3f} {_fmt_ci(r['k_ci']):>18} {_fmt_ci(r['k_ci_boot']):>18} "
                     f"{r['neg_log_L_at_DI']:>11.3f} {r['r2']:>6.3f}")
        b = r.get("broken")
        if b and b["preferred"]:
            lo, hi = b["knee_scale_ci"]
            lines.append(f"{'':<28}     knee at {b['knee_scale']:.4g} (95% CI {lo:.4g} - {hi:.4g}): "
                         f"k {b['k_before']:.3f} before, {b['k_after']:.3f} after "
                         f"(AICc {b['aicc']:.1f} vs {b['aicc_plain']:.1f} over {b['n_points']} rows)")
    lines.append(f"(y = {y}; D_I = {reference_scale:g}; CIs at 95%: OLS t, residual bootstrap-t, knee by profile "
                 "likelihood; the broken law is fitted on all rows)")
    return "\n".join(lines)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def main(argv=None) -> int:
    import pandas as pd

    ap = argparse.ArgumentParser(prog="python -m synscale.analyze", description=__doc__.split("\n\n")[0])
    ap.add_argument("table", help="CSV file")
    ap.add_argument("--x", required=True, help="column of the data scale D")
    ap.add_argument("--y", required=True, help="column to fit (a loss, or an accuracy with --transform)")
    ap.add_argument("--by", default=None, help="column whose values name the groups fitted separately")
    ap.add_argument("--reference-scale", type=float, required=True, help="D_I of Eq. 2")
    ap.add_argument("--range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="fit the plain law only to rows with LO <= x <= HI (the broken law uses all rows)")
    ap.add_argument("--transform", default="none", choices=sorted(TRANSFORMS))
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the fits to this JSON file")
    args = ap.parse_args(argv)
    try:
        df = pd.read_csv(args.table)
        res = fit_table(df, args.x, args.y, args.by, args.reference_scale, args.transform, args.n_boot, args.seed,
                        fit_range=args.range)
    except (OSError, KeyError, ValueError) as e:
        print(f"error: {args.table}: {e}", file=sys.stderr)
        return 2
    print(report(res, args.y if args.transform == "none" else f"{args.transform}({args.y})", args.reference_scale))
    if args.json:
        from synscale.io import write_json

        write_json(Path(args.json), _jsonable({"table": str(args.table), "x": args.x, "y": args.y, "by": args.by,
                                               "transform": args.transform, "reference_scale": args.reference_scale,
                                               "fit_range": args.range,
                                               "fits": res}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
