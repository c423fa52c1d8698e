"""Fit the scaling law to any table: ``python -m synscale.analyze TABLE.csv --x scale --y COLUMN
--by config --reference-scale D_I [--transform error] [--json OUT]``.

For each group of rows (``--by``), the same fits the workflow's ``fit`` rule makes
(``synscale.fit.fit_series``): the OLS power law log y = -k (log x - log D_I) + log y(D_I) with its
95% CIs, residual-bootstrap CIs, and a broken power law (one knee) with the knee's CI, preferred
over the plain law by AICc. ``--transform error`` fits 1 - y/100 (accuracies in percent);
``--transform error01`` fits 1 - y (accuracies in [0, 1]). Published or external numbers fit just
like the workflow's own.
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
              n_boot: int = 2000, seed: int = 0) -> dict:
    """group -> fit (``fit_series``) of ``transform(y)`` against ``x``; groups with fewer than two
    distinct x get an 'error' entry instead."""
    for col in [x, y] + ([by] if by else []):
        if col not in df.columns:
            raise KeyError(f"column {col!r} not in the table (columns: {', '.join(map(str, df.columns))})")
    if transform not in TRANSFORMS:
        raise ValueError(f"--transform {transform!r}: one of {sorted(TRANSFORMS)}")
    groups = df.groupby(by, sort=True) if by else [("all", df)]
    out = {}
    for name, g in groups:
        g = g.dropna(subset=[x, y]).sort_values(x)
        vals = TRANSFORMS[transform](g[y].to_numpy(dtype=float))
        key = str(name[0] if isinstance(name, tuple) else name)
        if g[x].nunique() < 2:
            out[key] = {"error": f"{g[x].nunique()} distinct {x} values; a fit needs 2"}
            continue
        try:
            out[key] = {"n": int(len(g)), **fit_series(g[x].to_numpy(dtype=float), vals, reference_scale,
                                                        n_boot=n_boot, seed=seed)}
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
                         f"(AICc {b['aicc']:.1f} vs {b['aicc_plain']:.1f})")
    lines.append(f"(y = {y}; D_I = {reference_scale:g}; CIs at 95%)")
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
    ap.add_argument("--transform", default="none", choices=sorted(TRANSFORMS))
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the fits to this JSON file")
    args = ap.parse_args(argv)
    try:
        df = pd.read_csv(args.table)
        res = fit_table(df, args.x, args.y, args.by, args.reference_scale, args.transform, args.n_boot, args.seed)
    except (OSError, KeyError, ValueError) as e:
        print(f"error: {args.table}: {e}", file=sys.stderr)
        return 2
    print(report(res, args.y if args.transform == "none" else f"{args.transform}({args.y})", args.reference_scale))
    if args.json:
        from synscale.io import write_json

        write_json(Path(args.json), _jsonable({"table": str(args.table), "x": args.x, "y": args.y, "by": args.by,
                                               "transform": args.transform, "reference_scale": args.reference_scale,
                                               "fits": res}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
