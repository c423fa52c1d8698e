# Quality of a run's synthetic test set: recognizability and diversity (reference classifier), FID
# against the real validation set and LPIPS over same-class pairs.
rule val_features:
    input:
        val=lambda w: val_shards(),
        reference=reference(),
        manifests=lambda w: manifests_of([*val_shards(), reference()]),
        classes=lambda w: classes_json(),
        weights=lambda w: quality_weights("fid"),
    output:
        val_features(),
    log:
        "logs/quality/val_features.log",
    benchmark:
        benchmark("val_features", "val")
    threads: THREADS
    resources:
        gpu=1,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
    params:
        config=job_config(keys.VAL_FEATURES),
    script:
        "../scripts/val_features.py"


rule quality:
    input:
        testset=testset("{run}"),
        reference=reference(),
        val_features=val_features(),
        manifests=lambda w: manifests_of([testset(w.run), reference()]),
        classes=lambda w: classes_json(),
        weights=lambda w: quality_weights("fid") + quality_weights("lpips"),
    output:
        quality_json("{run}"),
    log:
        "logs/quality/{run}.log",
    benchmark:
        benchmark("quality", "{run}")
    threads: THREADS
    resources:
        gpu=1,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
    params:
        config=job_config(keys.QUALITY),
        run="{run}",
    script:
        "../scripts/quality.py"
