# Recognizability and diversity of a run's synthetic test set.
rule quality:
    input:
        testset=f"{RES}/testsets/{{run}}.tar",
        reference=f"{RES}/reference/model.pt",
        manifests=lambda w: manifests_of([f"{RES}/testsets/{w.run}.tar", f"{RES}/reference/model.pt"]),
        classes=lambda w: classes_json(),
    output:
        f"{RES}/quality/{{run}}.json",
    params:
        config=job_config(QUALITY_STEP.KEYS),
        run="{run}",
    threads: THREADS
    resources:
        gpu=1,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
    log:
        "logs/quality/{run}.log",
    script:
        "../scripts/quality.py"
