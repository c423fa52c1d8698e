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
            "logs/data.log",
        params:
            config=job_config(keys.DATA),
        script:
            "../scripts/data_embedded.py"
