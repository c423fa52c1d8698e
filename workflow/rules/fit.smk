# The scaling-law fit of a run over its scales.
rule fit:
    input:
        evals=fit_evals,
        quality=lambda w: [] if run_of(w).is_real else [quality_json(w.run)],
    output:
        json=f"{RES}/scaling/{{run}}.json",
        png=report(f"{RES}/scaling/{{run}}.png", caption="../report/scaling.rst", category="1 Scaling",
                   labels=lambda w: run_labels(w.run, "scaling law")),
    params:
        config=job_config(FIT_STEP.KEYS),
        run=run_params,
    log:
        "logs/fit/{run}.log",
    script:
        "../scripts/fit.py"


# Every run's fit in one table (k, its CI, -log L at D_I, R^2, quality): the T2I families' k side by
# side. Not in the default target: it also builds the runs with default_target: false.
rule scaling_summary:
    input:
        fits=lambda w: [f"{RES}/scaling/{name}.json" for name in fitted_runs()],
    output:
        csv=f"{RES}/scaling/summary.csv",
    params:
        config=job_config(()),
        families={name: m["family"] for name, m in CFG["models"].items()},
    log:
        "logs/fit/summary.log",
    script:
        "../scripts/scaling_summary.py"
