# Tiny T2I models of the embedded default, trained by the workflow (real weights come from paths).
rule train_t2i:
    input:
        train=lambda w: real_train_shards(),
        manifests=lambda w: manifests_of(real_train_shards()),
        classes=lambda w: classes_json(),
    output:
        directory(t2i_model("{model}")),
    log:
        f"{LOGS}/t2i/{{model}}.log",
    benchmark:
        benchmark("train_t2i", "{model}")
    priority: 100
    threads: lambda w: CFG["models"][w.model]["train"]["threads"]
    resources:
        gpu=1,
        cpus_per_task=lambda w, threads: threads,
        mem_mb=mem_mb,
        runtime=runtime_t2i,
    params:
        config=lambda w: job_config(keys.t2i(w.model)),
        model="{model}",
    script:
        "../scripts/train_t2i.py"
