# A classifier trained from scratch on D images of a run: the first D of a synthetic run, the
# seeded class-balanced subset of D the data index selects of the real data.
rule train_classifier:
    input:
        shards=lambda w: shards_for(w.run, w.scale),
        manifests=lambda w: manifests_of(shards_for(w.run, w.scale)),
        classes=lambda w: classes_json(),
        index=lambda w: [data_file("index.json")] if run_of(w).is_real else [],
    output:
        model=checkpoint("{run}", "{scale}"),
        info=checkpoint("{run}", "{scale}", "train.json"),
    log:
        f"{LOGS}/train/{{run}}/n{{scale}}.log",
    benchmark:
        benchmark("train_classifier", "{run}/n{scale}")
    threads: max(THREADS, TRAIN_GPUS)
    resources:
        nodes=train_resources("nodes"),
        gpu=train_resources("gpu"),
        gres=train_resources("gres"),
        cpus_per_task=lambda w, threads: threads,
        mem_mb=mem_mb,
        runtime=runtime_train,
    params:
        config=lambda w: job_config(keys.train(run_of(w).is_real)),
        run="{run}",
        scale="{scale}",
        classifier=lambda w: run_of(w).classifier or {},
    script:
        "../scripts/train_classifier.py"
