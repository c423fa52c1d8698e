# The CLIP study (section 6): caption blocks, twins (rule generate_shard), CLIP per arm and caption
# scale, zero-shot evaluation, the per-arm fits, the summary (Fig. 9, A14, Table 1/A12) and the CFG
# sweep (Table A11). Targets: results/clip/scaling/{arm}.json, results/clip/summary.csv,
# results/clip/cfg_sweep.csv.
if CLIP:

    # the embedded caption dataset: the real train digits with their incap captions
    _EMB = [name for name, ds in CLIP["datasets"].items() if ds.get("embedded")] or ["digits"]

    rule clip_data_embedded:
        input:
            train=lambda w: real_train_shards(),
            manifests=lambda w: manifests_of(real_train_shards()),
            incap=f"{RES}/prompts/incap.parquet",
        output:
            tars=list(clip_sources(_EMB[0])) if _EMB[0] in CLIP["datasets"] else [],
            info=f"{RES}/clip/data/{_EMB[0]}/data.json",
        params:
            config=job_config(CLIP_STEP.DATA_KEYS),
            shard_size=CLIP["datasets"].get(_EMB[0], {}).get("shard_size"),
        log:
            f"logs/clip/data_{_EMB[0]}.log",
        script:
            "../scripts/clip_data.py"

    rule clip_captions:
        input:
            shards=lambda w: clip_block_sources(w.dataset, int(w.block)),
            manifests=lambda w: manifests_of(clip_block_sources(w.dataset, int(w.block))),
        output:
            table=f"{RES}/clip/captions/{{dataset}}/block-{{block}}.parquet",
            info=f"{RES}/clip/captions/{{dataset}}/block-{{block}}.json",
        params:
            config=job_config(("seed",)),
            dataset="{dataset}",
            block="{block}",
        resources:
            mem_mb=mem_mb,
        log:
            "logs/clip/captions/{dataset}/block-{block}.log",
        script:
            "../scripts/clip_captions.py"

    rule train_clip:
        input:
            unpack(clip_train_inputs),
        output:
            model=f"{RES}/clip/checkpoints/{{crun}}/n{{scale}}/model.pt",
            info=f"{RES}/clip/checkpoints/{{crun}}/n{{scale}}/train.json",
        params:
            config=job_config(CLIP_STEP.TRAIN_KEYS),
            run=clip_run_params,
            scale="{scale}",
        threads: max(THREADS, CLIP["train"]["gpus"])
        resources:
            nodes=clip_resources("nodes"),
            gpu=clip_resources("gpu"),
            gres=clip_resources("gres"),
            cpus_per_task=lambda w, threads: threads,
            mem_mb=mem_mb,
            runtime=runtime_clip,
        log:
            "logs/clip/train/{crun}/n{scale}.log",
        script:
            "../scripts/train_clip.py"

    rule evaluate_clip:
        input:
            unpack(clip_eval_inputs),
        output:
            f"{RES}/clip/eval/{{crun}}/n{{scale}}.json",
        params:
            config=job_config(CLIP_STEP.EVAL_KEYS),
            run="{crun}",
            scale="{scale}",
        threads: THREADS
        resources:
            gpu=1,
            cpus_per_task=THREADS,
            mem_mb=mem_mb,
        log:
            "logs/clip/eval/{crun}/n{scale}.log",
        script:
            "../scripts/evaluate_clip.py"

    rule fit_clip:
        input:
            evals=lambda w: clip_study_evals(w.arm),
        output:
            json=f"{RES}/clip/scaling/{{arm}}.json",
            png=report(f"{RES}/clip/scaling/{{arm}}.png", caption="../report/clip_scaling.rst", category="6 CLIP",
                       labels=lambda w: {"model": "CLIP", "guidance": "-", "prompt": w.arm, "figure": "zero-shot scaling"}),
        params:
            config=job_config(CLIP_STEP.FIT_KEYS),
            arm="{arm}",
            run=lambda w: C.clip_study_runs(CFG)[w.arm].name,
        log:
            "logs/clip/fit/{arm}.log",
        script:
            "../scripts/fit_clip.py"

    rule clip_summary:
        input:
            fits=[f"{RES}/clip/scaling/{arm}.json" for arm in CLIP["study"]["arms"]],
        output:
            csv=f"{RES}/clip/summary.csv",
            json=f"{RES}/clip/summary.json",
            png=report(f"{RES}/clip/summary.png", caption="../report/clip_summary.rst", category="6 CLIP",
                       labels=cross_run_labels("Fig. 9, A14: CLIP arms")),
        params:
            config=job_config(()),
            arms=CLIP["study"]["arms"],
        log:
            "logs/clip/summary.log",
        script:
            "../scripts/clip_summary.py"

    if CLIP["cfg_sweep"]:

        rule clip_cfg_sweep:
            input:
                evals=clip_sweep_evals(),
            output:
                csv=f"{RES}/clip/cfg_sweep.csv",
                png=report(f"{RES}/clip/cfg_sweep.png", caption="../report/clip_sweep.rst", category="6 CLIP",
                           labels=cross_run_labels("Table A11: CLIP CFG sweep")),
            params:
                config=job_config(()),
                guidance=[C.fmt_guidance(g) for g in CLIP["cfg_sweep"]["guidance"]],
            log:
                "logs/clip/cfg_sweep.log",
            script:
                "../scripts/clip_sweep.py"
