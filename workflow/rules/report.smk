# The report's cross-run figures, its summary table, the per-scale table and each run's sample grid;
# the report itself: snakemake --report results/report.html


rule report_figures:
    input:
        fits=lambda w: report_fits(),
        evals=lambda w: report_all_evals(),
        quality=lambda w: report_quality(),
        paper=lambda w: paper_table(),
        reference_metrics=reference("metrics.json"),
    output:
        k_bars=report(
            report_file("k_per_run.png"),
            caption="../report/k_bars.rst",
            category="1 Scaling",
            labels=cross_run_labels("Fig. 1: k of every run"),
        ),
        curves=report(
            report_file("scaling_curves.png"),
            caption="../report/curves.rst",
            category="1 Scaling",
            labels=cross_run_labels("Fig. 3: scaling curves"),
        ),
        ood=report(
            report_file("ood_scaling.png"),
            caption="../report/ood.rst",
            category="1 Scaling",
            labels=cross_run_labels("Fig. 4: out-of-distribution scaling"),
        ),
        quality=report(
            report_file("quality_plane.png"),
            caption="../report/quality.rst",
            category="2 Quality",
            labels=cross_run_labels("Fig. 2, A1-A4: quality plane"),
        ),
        html=report(
            report_file("summary.html"),
            caption="../report/summary.rst",
            category="0 Summary",
            labels=cross_run_labels("summary table"),
        ),
        csv=report_file("summary.csv"),
        per_scale=report(
            report_file("per_scale.html"),
            caption="../report/per_scale.rst",
            category="7 Paper tables",
            labels=cross_run_labels("Tables A7, A8: every scale"),
        ),
        per_scale_csv=report_file("per_scale.csv"),
        eras=report(
            report_file("eras.html"),
            caption="../report/eras.rst",
            category="9 Across eras",
            labels=cross_run_labels("across eras: best config per model"),
        ),
        eras_csv=report_file("eras.csv"),
        era_scaling=report(
            report_file("era_scaling.png"),
            caption="../report/era_scaling.rst",
            category="9 Across eras",
            labels=cross_run_labels("across eras: k vs -log L at D_I"),
        ),
        era_plane=report(
            report_file("era_plane.png"),
            caption="../report/era_plane.rst",
            category="9 Across eras",
            labels=cross_run_labels("across eras: recognizability vs diversity"),
        ),
    log:
        f"{LOGS}/report/figures.log",
    group:
        "summarize"
    params:
        config=job_config((*keys.REPORT, "data.source", "fit.reference_scale", "models")),
        runs=lambda w: report_figure_runs(),
    script:
        "../scripts/report_figures.py"


rule sample_grid:
    input:
        testset=testset("{run}"),
        classes=lambda w: classes_json(),
    output:
        report(
            sample_png("{run}"),
            caption="../report/samples.rst",
            category="3 Samples",
            labels=lambda w: run_labels(w.run, "samples"),
        ),
    log:
        f"{LOGS}/report/samples/{{run}}.log",
    group:
        "summarize"
    params:
        config=job_config(keys.SAMPLES),
        run="{run}",
    script:
        "../scripts/sample_grid.py"
