"""Check configuration files as the workflow would, without Snakemake:

    python -m synscale.config config/paper.yaml [more.yaml ...]

Later files override earlier ones key by key (as Snakemake's --configfile does). A YAML syntax
error is named by file, line and column (Snakemake itself reads a --configfile before the workflow
starts, and says only that the file is not valid YAML); every other problem by config key, file
and line. Exit status 0 when valid (the results root is printed), 1 otherwise."""
from __future__ import annotations

import argparse
import sys

from . import ConfigError, load_yaml, results_root, validate


def _merge(into: dict, new: dict) -> dict:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v
    return into


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m synscale.config", description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="config files, in --configfile order")
    a = ap.parse_args(argv)
    try:
        cfg: dict = {}
        for f in a.files:
            _merge(cfg, load_yaml(f))
        cfg = validate(cfg, files=a.files)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"valid: {', '.join(a.files)} (results root {results_root(cfg)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
