# Synthetic image shards (pure functions of run, shard index and seed) and the synthetic test set.
# The twins of a caption dataset (a run whose 'prompt' is a clip.datasets name) are made here too:
# shard i holds one image per caption of the dataset's block i, in order and under its keys.
rule generate_shard:
    input:
        model=lambda w: t2i_dir(data_run(w).model),
        prompts=lambda w: clip_block_table(data_run(w).prompt, w.shard) if is_twins(data_run(w))
        else f"{RES}/prompts/{data_run(w).prompt}.parquet",
        classes=lambda w: classes_json(),
    output:
        tar=f"{RES}/shards/{{run}}/shard-{{shard}}.tar",
        manifest=f"{RES}/shards/{{run}}/shard-{{shard}}.json",
    params:
        config=lambda w: job_config(GENERATE_STEP.keys(data_run(w).model, testset=False, twins=is_twins(data_run(w)))),
        run="{run}",
        shard="{shard}",
    priority: 50
    threads: THREADS
    resources:
        gpu=CFG["generation"]["gpus"],
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
        runtime=runtime_generate,
    log:
        "logs/generate/{run}/shard-{shard}.log",
    script:
        "../scripts/generate.py"


rule generate_testset:
    input:
        model=lambda w: t2i_dir(data_run(w).model),
        prompts=lambda w: f"{RES}/prompts/{data_run(w).prompt}.parquet",
        classes=lambda w: classes_json(),
    output:
        tar=f"{RES}/testsets/{{run}}.tar",
        manifest=f"{RES}/testsets/{{run}}.json",
    params:
        config=lambda w: job_config(GENERATE_STEP.keys(data_run(w).model, testset=True)),
        run="{run}",
        shard="test",
    priority: 50
    threads: THREADS
    resources:
        gpu=CFG["generation"]["gpus"],
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
        runtime=runtime_generate,
    log:
        "logs/generate/{run}/testset.log",
    script:
        "../scripts/generate.py"
