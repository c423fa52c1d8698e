# Tiny T2I models of the embedded default, trained by the workflow (real weights come from paths).
rule train_t2i:
    input:
        train=lambda w: real_train_shards(),
        classes=lambda w: classes_json(),
    output:
        directory(f"{RES}/t2i/{{model}}"),
    priority: 100
    threads: lambda w: CFG["models"][w.model].get("train", {}).get("threads", 1)
    resources:
        gpu=1,
        cpus_per_task=lambda w, threads: threads,
        mem_mb=mem_mb,
        runtime=runtime_t2i,
    conda:
        "../../envs/synscale.yaml"
    log:
        "logs/t2i/{model}.log",
    script:
        "../scripts/train_t2i.py"
