# Real data of the embedded default: MNIST train/val shards and the OOD set.
if EMBEDDED:

    rule data_embedded:
        output:
            train=real_train_shards(),
            val=val_shards(),
            ood=ood_sets()["sklearn_digits"],
            classes=data_file("classes.json"),
            info=data_file("data.json"),
        log:
            f"{LOGS}/data.log",
        params:
            config=job_config(keys.DATA),
        script:
            "../scripts/data_embedded.py"


# The real train shards indexed once (per shard: bytes, sample count, labels, class counts): real
# scales train on seeded, nested, class-balanced subsets drawn from it (synscale/data/index.py).
rule index_real_data:
    input:
        shards=lambda w: real_train_shards(),
        manifests=lambda w: manifests_of(real_train_shards()),
        classes=lambda w: classes_json(),
    output:
        index=data_file("index.json"),
    log:
        f"{LOGS}/data/index.log",
    benchmark:
        benchmark("index_real_data", "index")
    priority: 100
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime_index,
    params:
        config=job_config(keys.INDEX),
    script:
        "../scripts/index_real_data.py"


# The real scales checked against the index and each one's per-class counts recorded. Once the
# index exists, the same check stops the workflow while it parses (inputs.smk: check_real_scales).
rule real_subsets:
    input:
        index=data_file("index.json"),
        shards=lambda w: real_train_shards(),
    output:
        subsets=data_file("real_subsets.json"),
    log:
        f"{LOGS}/data/real_subsets.log",
    params:
        config=job_config(keys.REAL_SUBSETS),
        scales=real_scales_by_key(),
    script:
        "../scripts/real_subsets.py"
