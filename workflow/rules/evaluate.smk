# Loss and top-1 on the real val split and the out-of-distribution sets.
rule evaluate:
    input:
        model=f"{RES}/checkpoints/{{run}}/n{{scale}}/model.pt",
        val=lambda w: val_shards(),
        ood=lambda w: [p for paths in ood_sets().values() for p in paths],
        classes=lambda w: classes_json(),
    output:
        f"{RES}/eval/{{run}}/n{{scale}}.json",
    threads: CFG.get("threads", 1)
    conda:
        "../../envs/synscale.yaml"
    log:
        "logs/evaluate/{run}/n{scale}.log",
    script:
        "../scripts/evaluate.py"
