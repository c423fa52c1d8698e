"""``python -m synscale.status``: per run, scales done / running / pending / failed, GPU-hours spent
and left, the last failure's log and error line (``synscale.ops.status``)."""
from synscale.ops.status import main

if __name__ == "__main__":
    raise SystemExit(main())
