# The cost ledger (results/ledger.csv: one row per job of every rule with a benchmark file, its wall
# time, CPU time and memory joined with the work, device and throughput its JSON records) and the
# report's "Progress and cost" section. It runs last, after the rest of the default target; it reads
# the benchmark files and records the jobs left, not as inputs (a job whose benchmark file is
# missing would otherwise be re-run): see synscale/ops/ledger.py. Its helpers (ledger_csv,
# ledger_rules, ledger_item) are in targets.smk; this file is included last, so ledger_rules()
# sees every rule.


localrules:
    ledger,


rule ledger:
    input:
        done=lambda w: final_targets(ledger=False),
    output:
        csv=ledger_csv(),
        html=ledger_item("cost.html", "cost.rst", "ledger per rule and run"),
        bars=ledger_item("cost.png", "cost_bars.rst", "GPU-hours per rule and run"),
        curves=ledger_item("training_curves.png", "training_curves.rst", "training curves"),
    log:
        f"{LOGS}/ledger.log",
    params:
        config=job_config(("data", "generation", "classifier", "runs", "fit", "clip")),
        rules=ledger_rules(),
    script:
        "../scripts/ledger.py"
