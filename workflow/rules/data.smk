# Real data of the embedded default: MNIST train/val shards and the OOD set.
if EMBEDDED:

    rule data_embedded:
        output:
            train=real_train_shards(),
            val=val_shards(),
            ood=ood_sets()["sklearn_digits"],
            classes=f"{RES}/data/classes.json",
            info=f"{RES}/data/data.json",
        params:
            config=job_config(DATA_STEP.KEYS),
        log:
            "logs/data.log",
        script:
            "../scripts/prepare_data.py"
