# Prompt tables: one parquet per prompt set (synscale/prompts/). incap with a BLIP-2 captioner
# reads caption tables (rule captions: one job per prompts.captioner.shards_per_job real train
# shards, so captioning spreads over the cluster's GPUs); the embedded image_stats captioner reads
# the train shards directly.
rule prompts:
    input:
        classes=lambda w: classes_json(),
        train=lambda w: prompt_inputs(w.prompt),
        model=lambda w: prompt_model(w.prompt),
    output:
        table=prompts_table("{prompt}"),
        info=prompts_table("{prompt}", "json"),
    log:
        f"{LOGS}/prompts/{{prompt}}.log",
    benchmark:
        benchmark("prompts", "{prompt}")
    group:
        lambda w: None if w.prompt in ("word2sen", "incap") else "prepare"  # those wait on GPU jobs
    threads: THREADS
    resources:
        gpu=lambda w: 1 if w.prompt == "word2sen" else 0,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
        runtime=runtime_prompts,
    params:
        config=lambda w: job_config(keys.prompts(w.prompt)),
        prompt="{prompt}",
    script:
        "../scripts/prompts.py"


rule captions:
    input:
        shards=lambda w: caption_chunk_shards(int(w.chunk)),
        model=lambda w: external(CAPTIONER, "prompts.captioner.path") if CAPTIONER else [],
    output:
        table=caption_table("{chunk}"),
        info=caption_table("{chunk}", "json"),
    log:
        f"{LOGS}/captions/train-{{chunk}}.log",
    benchmark:
        benchmark("captions", "train-{chunk}")
    threads: THREADS
    resources:
        gpu=1,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
        runtime=runtime_captions,
    params:
        config=job_config(keys.CAPTIONS),
    script:
        "../scripts/captions.py"
