# Per-class analysis of each fitted synthetic run (§5, App. E): per-class k against per-class
# quality, the class groups, k-deciles and the real-data run beside it.
rule analysis:
    input:
        unpack(analysis_inputs),
    output:
        json=f"{RES}/analysis/{{run}}.json",
        png=report(f"{RES}/analysis/{{run}}.png", caption="../report/analysis.rst", category="4 Per-class analysis",
                   labels=lambda w: run_labels(w.run, "per-class analysis")),
    params:
        config=job_config(ANALYSIS_STEP.KEYS),
    log:
        "logs/analysis/{run}.log",
    script:
        "../scripts/analysis.py"
