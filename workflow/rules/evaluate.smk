# Loss and top-1 on the real val split and the out-of-distribution sets (named by config key).
rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        eval_json("{run}", "{scale}"),
    log:
        f"{LOGS}/evaluate/{{run}}/n{{scale}}.log",
    benchmark:
        benchmark("evaluate", "{run}/n{scale}")
    threads: THREADS
    resources:
        gpu=1,
        cpus_per_task=THREADS,
        mem_mb=mem_mb,
    params:
        config=job_config(keys.EVALUATE),
        run="{run}",
        scale="{scale}",
        classifier=lambda w: run_of(w).classifier or {},
    script:
        "../scripts/evaluate.py"
