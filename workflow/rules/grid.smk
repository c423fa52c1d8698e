# The T2I families compared over the guidance sweep of the `grid` section (Tables A4-A5, Fig. 2).
# Not in the default target: snakemake results/grid/summary.csv
rule grid:
    input:
        quality=lambda w: [quality_json(name) for name in GRID],
    output:
        csv=grid_summary("csv"),
        json=grid_summary("json"),
        png=report(
            grid_summary("png"),
            caption="../report/grid.rst",
            category="5 Guidance sweep",
            labels=cross_run_labels("Tables A4-A5, Fig. 2: guidance sweep"),
        ),
    log:
        f"{LOGS}/grid/summary.log",
    group:
        "summarize"
    params:
        config=job_config(keys.GRID),
        runs=lambda w: {
            name: {
                "model": r.model,
                "family": CFG["models"][r.model]["family"],
                "guidance": r.guidance,
                "prompt": r.prompt,
            }
            for name, r in GRID.items()
        },
    script:
        "../scripts/grid.py"
