# The reference classifier used for recognizability and diversity: pretrained weights from
# reference_classifier.path (the paper's ViT-B), linked in place and evaluated on the real val set,
# or trained on the real train split. Either way reference/metrics.json holds its val top-1 and loss.
if CFG["reference_classifier"]["path"]:

    localrules:
        reference_external,

    rule reference_external:
        input:
            weights=lambda w: external(CFG["reference_classifier"]["path"], "reference_classifier.path"),
        output:
            model=reference(),
        log:
            f"{LOGS}/reference.log",
        script:
            "../scripts/reference_external.py"

    rule evaluate_reference:
        input:
            model=reference(),
            val=lambda w: val_shards(),
            manifests=lambda w: manifests_of(val_shards()),
            classes=lambda w: classes_json(),
        output:
            metrics=reference("metrics.json"),
        log:
            f"{LOGS}/reference_eval.log",
        benchmark:
            benchmark("evaluate_reference", "reference")
        threads: THREADS
        resources:
            gpu=1,
            cpus_per_task=THREADS,
            mem_mb=mem_mb,
        params:
            config=job_config(keys.EVALUATE_REFERENCE),
        script:
            "../scripts/evaluate_reference.py"

else:

    rule train_reference:
        input:
            train=lambda w: real_train_shards(),
            val=lambda w: val_shards(),
            manifests=lambda w: manifests_of(real_train_shards() + val_shards()),
            classes=lambda w: classes_json(),
        output:
            model=reference(),
            metrics=reference("metrics.json"),
        log:
            f"{LOGS}/reference.log",
        benchmark:
            benchmark("train_reference", "reference")
        threads: THREADS
        resources:
            gpu=1,
            cpus_per_task=THREADS,
            mem_mb=mem_mb,
            runtime=runtime_reference,
        params:
            config=job_config(keys.REFERENCE),
        script:
            "../scripts/train_reference.py"
