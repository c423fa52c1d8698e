# The reference classifier used for recognizability and diversity.
if CFG["reference_classifier"].get("path"):

    localrules:
        reference_external,

    rule reference_external:
        input:
            lambda w: external(CFG["reference_classifier"]["path"], "reference_classifier.path"),
        output:
            model=f"{RES}/reference/model.pt",
        conda:
            "../../envs/synscale.yaml"
        log:
            "logs/reference.log",
        shell:
            "ln -sf $(realpath {input}) {output.model} 2> {log}"

else:

    rule train_reference:
        input:
            train=lambda w: real_train_shards(),
            val=lambda w: val_shards(),
            classes=lambda w: classes_json(),
        output:
            model=f"{RES}/reference/model.pt",
            metrics=f"{RES}/reference/metrics.json",
        threads: CFG.get("threads", 1)
        resources:
            gpu=1,
            cpus_per_task=lambda w, threads: threads,
            mem_mb=mem_mb,
            runtime=lambda w, attempt: 60 * attempt,
        conda:
            "../../envs/synscale.yaml"
        log:
            "logs/reference.log",
        script:
            "../scripts/train_reference.py"
