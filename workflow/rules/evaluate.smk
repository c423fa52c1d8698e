# Loss and top-1 on the real val split and the out-of-distribution sets (named by config key).
rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        f"{RES}/eval/{{run}}/n{{scale}}.json",
    params:
        config=job_config(EVALUATE_STEP.KEYS),
        run="{run}",
        scale="{scale}",
        classifier=lambda w: run_of(w).classifier or {},
    threads: THREADS
    resources:
        gpu=1,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
    log:
        "logs/evaluate/{run}/n{scale}.log",
    script:
        "../scripts/evaluate.py"
