# The scaling-law fit of a run over its scales.
rule fit:
    input:
        evals=fit_evals,
        quality=lambda w: [] if run_of(w).is_real else [quality_json(w.run)],
    output:
        json=scaling_json("{run}"),
        png=report(
            scaling_json("{run}", "png"),
            caption="../report/scaling.rst",
            category="1 Scaling",
            labels=lambda w: run_labels(w.run, "scaling law"),
        ),
    log:
        f"{LOGS}/fit/{{run}}.log",
    group:
        "summarize"
    params:
        config=job_config(keys.FIT),
        run=run_params,
    script:
        "../scripts/fit.py"


# Every run's fit in one table (k, its CI, -log L at D_I, R^2, quality): the T2I families' k side by
# side. Not in the default target: it also builds the runs with default_target: false.
rule scaling_summary:
    input:
        fits=lambda w: [scaling_json(name) for name in fitted_runs()],
    output:
        csv=scaling_summary_csv(),
    log:
        f"{LOGS}/fit/summary.log",
    group:
        "summarize"
    params:
        config=job_config(()),
        families={name: m["family"] for name, m in CFG["models"].items()},
    script:
        "../scripts/scaling_summary.py"
