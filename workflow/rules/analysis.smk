# Per-class analysis of each fitted synthetic run (§5, App. E): per-class k against per-class
# quality, the class groups on the plane of k against performance at D_I (Fig. 6), per-class curves
# beside real data (Fig. 7), sample images by group (Fig. 8), the classes of lowest k (Table A9).


rule analysis:
    input:
        unpack(analysis_job_inputs),
    output:
        json=analysis_json("{run}"),
        png=analysis_item("png", "analysis.rst", "Fig. 5, 6: per-class k and groups"),
        curves=analysis_item("curves.png", "perclass_curves.rst", "Fig. 7: per-class scaling vs real"),
        samples=analysis_item("samples.png", "perclass_samples.rst", "Fig. 8: images by group"),
        table=analysis_item("table.html", "table_a9.rst", "Table A9: classes of lowest k", "7 Paper tables"),
    log:
        f"{LOGS}/analysis/{{run}}.log",
    group:
        "summarize"
    params:
        config=job_config((*keys.ANALYSIS, *keys.SAMPLES)),
    script:
        "../scripts/analysis.py"
