# Quality of a run's synthetic test set: recognizability and diversity (reference classifier), FID
# against the real validation set and LPIPS over same-class pairs.
rule val_features:
    input:
        val=lambda w: val_shards(),
        reference=f"{RES}/reference/model.pt",
        manifests=lambda w: manifests_of([*val_shards(), f"{RES}/reference/model.pt"]),
        classes=lambda w: classes_json(),
        weights=lambda w: quality_weights("fid"),
    output:
        f"{RES}/quality/val_features.pt",
    params:
        config=job_config(QUALITY_STEP.VAL_KEYS),
    threads: THREADS
    resources:
        gpu=1,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
    log:
        "logs/quality/val_features.log",
    script:
        "../scripts/val_features.py"


rule quality:
    input:
        testset=f"{RES}/testsets/{{run}}.tar",
        reference=f"{RES}/reference/model.pt",
        val_features=f"{RES}/quality/val_features.pt",
        manifests=lambda w: manifests_of([f"{RES}/testsets/{w.run}.tar", f"{RES}/reference/model.pt"]),
        classes=lambda w: classes_json(),
        weights=lambda w: quality_weights("fid") + quality_weights("lpips"),
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
