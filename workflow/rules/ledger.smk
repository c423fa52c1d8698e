# The cost ledger (results/ledger.csv: one row per job of every rule with a benchmark file, its wall
# time, CPU time and memory joined with the work, device and throughput its JSON records) and the
# report's "Progress and cost" section. It runs last, after the rest of the default target; it reads
# the benchmark files and records the jobs left, not as inputs (a job whose benchmark file is
# missing would otherwise be re-run): see synscale/ops/ledger.py.


def ledger_csv():
    return f"{RES}/ledger.csv"


def ledger_rules():
    """rule -> the pattern of its benchmark file and of the first JSON it writes (None: none), for
    every rule with a benchmark: directive."""
    out = {}
    for r in workflow.rules:
        if r.benchmark is None:
            continue
        jsons = [str(o) for o in r.output if str(o).endswith(".json")]
        out[r.name] = {"benchmark": str(r.benchmark), "record": jsons[0] if jsons else None}
    return dict(sorted(out.items()))


def ledger_item(name, caption, figure):
    return report(
        report_file(name),
        caption=f"../report/{caption}",
        category="8 Progress and cost",
        labels=cross_run_labels(figure),
    )


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
