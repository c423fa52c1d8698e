"""``python -m synscale.plan``: GPU-hours per rule, per run and in total of the pending jobs, and
their makespan on N GPUs (``synscale.ops.plan``)."""
from synscale.ops.plan import main

if __name__ == "__main__":
    raise SystemExit(main())
