# Synthetic image shards (pure functions of run, shard index and seed) and the synthetic test set.
# The twins of a caption dataset (a run whose 'prompt' is a clip.datasets name) are made here too:
# shard i holds one image per caption of the dataset's block i, in order and under its keys.
rule generate_shard:
    input:
        model=lambda w: t2i_dir(data_run(w).model),
        prompts=lambda w: (
            clip_block_table(data_run(w).prompt, w.shard)
            if is_twins(data_run(w))
            else prompts_table(data_run(w).prompt)
        ),
        classes=lambda w: classes_json(),
    output:
        tar=shard("{run}", "{shard}"),
        manifest=shard("{run}", "{shard}", "json"),
    log:
        f"{LOGS}/generate/{{run}}/shard-{{shard}}.log",
    benchmark:
        benchmark("generate_shard", "{run}/shard-{shard}")
    priority: 50
    threads: THREADS
    resources:
        gpu=CFG["generation"]["gpus"],
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
        runtime=runtime_generate,
    params:
        config=lambda w: job_config(keys.generate(data_run(w).model, testset=False, twins=is_twins(data_run(w)))),
        run=generate_run,
        shard="{shard}",
    script:
        "../scripts/generate_shard.py"


rule generate_testset:
    input:
        model=lambda w: t2i_dir(data_run(w).model),
        prompts=lambda w: prompts_table(data_run(w).prompt),
        classes=lambda w: classes_json(),
    output:
        tar=testset("{run}"),
        manifest=testset("{run}", "json"),
    log:
        f"{LOGS}/generate/{{run}}/testset.log",
    benchmark:
        benchmark("generate_testset", "{run}")
    priority: 50
    threads: THREADS
    resources:
        gpu=CFG["generation"]["gpus"],
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
        runtime=runtime_generate,
    params:
        config=lambda w: job_config(keys.generate(data_run(w).model, testset=True)),
        run=generate_run,
        shard="test",
    script:
        "../scripts/generate_testset.py"
