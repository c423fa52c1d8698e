# Quality of a run's synthetic test set: recognizability and diversity (reference classifier), FID
# against the real validation set and LPIPS over same-class pairs; and per-class FID on training
# images (App. G.4): a run's first synthetic training images of each class against every real
# training image of that class (a run's own file, which the per-class analysis reads).
rule val_features:
    input:
        val=lambda w: val_shards(),
        reference=reference(),
        reference_metrics=reference("metrics.json"),
        manifests=lambda w: manifests_of([*val_shards(), reference()]),
        classes=lambda w: classes_json(),
        weights=lambda w: quality_weights("fid"),
    output:
        val_features(),
    log:
        f"{LOGS}/quality/val_features.log",
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
        reference_metrics=reference("metrics.json"),
        val_features=val_features(),
        manifests=lambda w: manifests_of([testset(w.run), reference()]),
        classes=lambda w: classes_json(),
        weights=lambda w: quality_weights("fid") + quality_weights("lpips"),
    output:
        quality_json("{run}"),
    log:
        f"{LOGS}/quality/{{run}}.log",
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


rule train_features:
    input:
        train=lambda w: real_train_shards(),
        reference=reference(),
        reference_metrics=reference("metrics.json"),
        manifests=lambda w: manifests_of([*real_train_shards(), reference()]),
        classes=lambda w: classes_json(),
        weights=lambda w: quality_weights("fid"),
    output:
        train_features(),
    log:
        f"{LOGS}/quality/train_features.log",
    benchmark:
        benchmark("train_features", "train")
    threads: THREADS
    resources:
        gpu=1,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
        runtime=runtime_index,
    params:
        config=job_config(keys.VAL_FEATURES),
    script:
        "../scripts/train_features.py"


rule per_class_fid:
    input:
        unpack(per_class_fid_inputs),
    output:
        per_class_fid_json("{run}"),
    log:
        f"{LOGS}/quality/{{run}}/per_class_fid.log",
    benchmark:
        benchmark("per_class_fid", "{run}")
    threads: THREADS
    resources:
        gpu=1,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
    params:
        config=job_config((*keys.VAL_FEATURES, "quality.per_class_fid")),
        run="{run}",
        scale=lambda w: per_class_fid_scale(w.run),
    script:
        "../scripts/per_class_fid.py"
