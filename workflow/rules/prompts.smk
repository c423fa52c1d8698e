# Prompt tables: one parquet per prompt set (synscale/prompts.py). incap with a BLIP-2 captioner
# reads caption tables (rule captions: one job per prompts.captioner.shards_per_job real train
# shards, so captioning spreads over the cluster's GPUs); the embedded image_stats captioner reads
# the train shards directly.
rule prompts:
    input:
        classes=lambda w: classes_json(),
        train=lambda w: prompt_inputs(w.prompt),
        model=lambda w: prompt_model(w.prompt),
    output:
        table=f"{RES}/prompts/{{prompt}}.parquet",
        info=f"{RES}/prompts/{{prompt}}.json",
    params:
        config=lambda w: job_config(PROMPTS_STEP.prompt_keys(w.prompt)),
        prompt="{prompt}",
    threads: THREADS
    resources:
        gpu=lambda w: 1 if w.prompt == "word2sen" else 0,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
        runtime=runtime_prompts,
    log:
        "logs/prompts/{prompt}.log",
    script:
        "../scripts/build_prompts.py"


rule captions:
    input:
        shards=lambda w: caption_chunk_shards(int(w.chunk)),
        model=lambda w: external(CAPTIONER, "prompts.captioner.path") if CAPTIONER else [],
    output:
        table=f"{RES}/captions/train-{{chunk}}.parquet",
        info=f"{RES}/captions/train-{{chunk}}.json",
    params:
        config=job_config(PROMPTS_STEP.CAPTION_KEYS),
    threads: THREADS
    resources:
        gpu=1,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
        runtime=runtime_captions,
    log:
        "logs/captions/train-{chunk}.log",
    script:
        "../scripts/caption_shards.py"
