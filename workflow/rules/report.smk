# The report's cross-run figures, its summary table and each run's sample grid; the report itself:
# snakemake --report results/report.html
rule report_figures:
    input:
        fits=lambda w: [f"{RES}/scaling/{n}.json" for n, r in report_runs().items() if len(r.scales) >= 2],
        evals=lambda w: [f"{RES}/eval/{n}/n{max(r.scales)}.json" for n, r in report_runs().items()],
        quality=lambda w: [quality_json(n) for n, r in report_runs().items() if not r.is_real],
        paper=lambda w: paper_table(),
    output:
        curves=report(f"{RES}/report/scaling_curves.png", caption="../report/curves.rst", category="1 Scaling",
                      labels=cross_run_labels("Fig. 1, 3: scaling curves")),
        ood=report(f"{RES}/report/ood_scaling.png", caption="../report/ood.rst", category="1 Scaling",
                   labels=cross_run_labels("Fig. 4: out-of-distribution scaling")),
        quality=report(f"{RES}/report/quality_plane.png", caption="../report/quality.rst", category="2 Quality",
                       labels=cross_run_labels("Fig. 2, A1-A4: quality plane")),
        html=report(f"{RES}/report/summary.html", caption="../report/summary.rst", category="0 Summary",
                    labels=cross_run_labels("summary table")),
        csv=f"{RES}/report/summary.csv",
    params:
        config=job_config(REPORT_STEP.KEYS),
        runs=lambda w: report_run_params(),
    log:
        "logs/report/figures.log",
    script:
        "../scripts/report_figures.py"


rule sample_grid:
    input:
        testset=f"{RES}/testsets/{{run}}.tar",
        classes=lambda w: classes_json(),
    output:
        report(f"{RES}/report/samples/{{run}}.png", caption="../report/samples.rst", category="3 Samples",
               labels=lambda w: run_labels(w.run, "samples")),
    params:
        config=job_config(REPORT_STEP.SAMPLE_KEYS),
        run="{run}",
    log:
        "logs/report/samples/{run}.log",
    script:
        "../scripts/sample_grid.py"
