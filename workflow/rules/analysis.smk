# Per-class analysis of each fitted synthetic run (§5, App. E): per-class k against per-class
# quality, the class groups, k-deciles and the real-data run beside it.
rule analysis:
    input:
        unpack(analysis_inputs),
    output:
        json=analysis_json("{run}"),
        png=report(
            analysis_json("{run}", "png"),
            caption="../report/analysis.rst",
            category="4 Per-class analysis",
            labels=lambda w: run_labels(w.run, "per-class analysis"),
        ),
    log:
        "logs/analysis/{run}.log",
    params:
        config=job_config(keys.ANALYSIS),
    script:
        "../scripts/analysis.py"
