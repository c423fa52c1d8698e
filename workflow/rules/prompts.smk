# Prompt tables: one parquet per prompt set.
rule prompts:
    input:
        classes=lambda w: classes_json(),
        train=lambda w: real_train_shards() if w.prompt == "incap" else [],
    output:
        table=f"{RES}/prompts/{{prompt}}.parquet",
        info=f"{RES}/prompts/{{prompt}}.json",
    conda:
        "../../envs/synscale.yaml"
    log:
        "logs/prompts/{prompt}.log",
    script:
        "../scripts/build_prompts.py"
