# The reference classifier used for recognizability and diversity: pretrained weights from
# reference_classifier.path (the paper's ViT-B), or trained on the real train split.
if CFG["reference_classifier"]["path"]:

    localrules:
        reference_external,

    rule reference_external:
        input:
            lambda w: external(CFG["reference_classifier"]["path"], "reference_classifier.path"),
        output:
            model=f"{RES}/reference/model.pt",
        log:
            "logs/reference.log",
        shell:
            "ln -sf $(realpath {input}) {output.model} 2> {log}"

else:

    rule train_reference:
        input:
            train=lambda w: real_train_shards(),
            val=lambda w: val_shards(),
            manifests=lambda w: manifests_of(real_train_shards() + val_shards()),
            classes=lambda w: classes_json(),
        output:
            model=f"{RES}/reference/model.pt",
            metrics=f"{RES}/reference/metrics.json",
        params:
            config=job_config(REFERENCE_STEP.KEYS),
        threads: THREADS
        resources:
            gpu=1,
            cpus_per_task=THREADS,
            mem_mb=mem_mb,
            runtime=runtime_reference,
        log:
            "logs/reference.log",
        script:
            "../scripts/train_reference.py"
