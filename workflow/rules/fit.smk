# The scaling-law fit of a run over its scales.
rule fit:
    input:
        evals=lambda w: [f"{RES}/eval/{w.run}/n{s}.json" for s in run_of(w).scales],
        quality=lambda w: [] if run_of(w).is_real else [quality_json(w.run)],
    output:
        json=f"{RES}/scaling/{{run}}.json",
        png=report(f"{RES}/scaling/{{run}}.png", caption="../report/scaling.rst", category="Scaling"),
    params:
        config=job_config(FIT_STEP.KEYS),
        run=run_params,
    log:
        "logs/fit/{run}.log",
    script:
        "../scripts/fit.py"
