# The CLIP study (section 6): caption blocks, twins (rule generate_shard), CLIP per arm and caption
# scale, zero-shot evaluation, the per-arm fits, the summary (Fig. 9, A14, A15, Table 1/A12), the CFG
# sweep (Table A11) and recipe S vs L (Table A10). Targets: results/clip/scaling/{arm}.json,
# results/clip/summary.csv, results/clip/cfg_sweep.csv, results/clip/recipes.csv.
if CLIP:

    # the embedded caption dataset: the real train digits with their incap captions
    _EMB = [name for name, ds in CLIP["datasets"].items() if ds.get("embedded")] or ["digits"]

    rule clip_data_embedded:
        input:
            train=lambda w: real_train_shards(),
            manifests=lambda w: manifests_of(real_train_shards()),
            incap=prompts_table("incap"),
        output:
            tars=list(clip_sources(_EMB[0])) if _EMB[0] in CLIP["datasets"] else [],
            info=clip_data(_EMB[0]),
        log:
            f"{LOGS}/clip/data_{_EMB[0]}.log",
        params:
            config=job_config(keys.CLIP_DATA),
            shard_size=CLIP["datasets"].get(_EMB[0], {}).get("shard_size"),
        script:
            "../scripts/clip_data_embedded.py"

    rule clip_captions:
        input:
            shards=lambda w: clip_block_sources(w.dataset, int(w.block)),
            manifests=lambda w: manifests_of(clip_block_sources(w.dataset, int(w.block))),
        output:
            table=clip_block_table("{dataset}", "{block}"),
            info=clip_block_table("{dataset}", "{block}", "json"),
        log:
            f"{LOGS}/clip/captions/{{dataset}}/block-{{block}}.log",
        benchmark:
            benchmark("clip_captions", "{dataset}/block-{block}")
        group:
            "caption_tables"
        resources:
            mem_mb=mem_mb,
        params:
            config=job_config(("seed",)),
            dataset="{dataset}",
            block="{block}",
        script:
            "../scripts/clip_captions.py"

    rule train_clip:
        input:
            unpack(clip_train_inputs),
        output:
            model=clip_checkpoint("{crun}", "{scale}"),
            info=clip_checkpoint("{crun}", "{scale}", "train.json"),
        log:
            f"{LOGS}/clip/train/{{crun}}/n{{scale}}.log",
        benchmark:
            benchmark("train_clip", "{crun}/n{scale}")
        threads: max(THREADS, CLIP["train"]["gpus"])
        resources:
            nodes=clip_resources("nodes"),
            gpu=clip_resources("gpu"),
            gres=clip_resources("gres"),
            cpus_per_task=lambda w, threads: threads,
            mem_mb=mem_mb,
            runtime=runtime_clip,
        params:
            config=job_config(keys.CLIP_TRAIN),
            run=clip_run_params,
            scale="{scale}",
        script:
            "../scripts/train_clip.py"

    rule evaluate_clip:
        input:
            unpack(clip_eval_inputs),
        output:
            clip_eval_json("{crun}", "{scale}"),
        log:
            f"{LOGS}/clip/eval/{{crun}}/n{{scale}}.log",
        benchmark:
            benchmark("evaluate_clip", "{crun}/n{scale}")
        threads: THREADS
        resources:
            gpu=1,
            cpus_per_task=THREADS,
            mem_mb=mem_mb,
        params:
            config=job_config(keys.CLIP_EVAL),
            run="{crun}",
            scale="{scale}",
        script:
            "../scripts/evaluate_clip.py"

    rule fit_clip:
        input:
            evals=lambda w: clip_study_evals(w.arm),
        output:
            json=clip_scaling_json("{arm}"),
            png=report(
                clip_scaling_json("{arm}", "png"),
                caption="../report/clip_scaling.rst",
                category="6 CLIP",
                labels=lambda w: {"model": "CLIP", "guidance": "-", "prompt": w.arm, "figure": "zero-shot scaling"},
            ),
        log:
            f"{LOGS}/clip/fit/{{arm}}.log",
        group:
            "summarize"
        params:
            config=job_config(keys.CLIP_FIT + ("clip.study.fit_range", "clip.train.recipes")),
            arm="{arm}",
            run=lambda w: C.clip_study_runs(CFG)[w.arm].name,
        script:
            "../scripts/fit_clip.py"

    rule clip_summary:
        input:
            fits=[clip_scaling_json(arm) for arm in CLIP["study"]["arms"]],
        output:
            csv=clip_summary("csv"),
            json=clip_summary("json"),
            png=report(
                clip_summary("png"),
                caption="../report/clip_summary.rst",
                category="6 CLIP",
                labels=cross_run_labels("Fig. 9, A14: CLIP arms"),
            ),
            per_dataset_csv=clip_per_dataset("csv"),
            per_dataset_png=report(
                clip_per_dataset("png"),
                caption="../report/clip_per_dataset.rst",
                category="6 CLIP",
                labels=cross_run_labels("Fig. A15: CLIP per-dataset scaling"),
            ),
        log:
            f"{LOGS}/clip/summary.log",
        group:
            "summarize"
        params:
            config=job_config(()),
            arms=CLIP["study"]["arms"],
        script:
            "../scripts/clip_summary.py"

    if CLIP["cfg_sweep"]:

        rule clip_cfg_sweep:
            input:
                evals=clip_sweep_evals(),
            output:
                csv=clip_sweep("csv"),
                png=report(
                    clip_sweep("png"),
                    caption="../report/clip_sweep.rst",
                    category="6 CLIP",
                    labels=cross_run_labels("Table A11: CLIP CFG sweep"),
                ),
            log:
                f"{LOGS}/clip/cfg_sweep.log",
            group:
                "summarize"
            params:
                config=job_config(()),
                guidance=[C.fmt_guidance(g) for g in CLIP["cfg_sweep"]["guidance"]],
            script:
                "../scripts/clip_cfg_sweep.py"

    if CLIP_RECIPES:

        rule train_clip_recipe:
            input:
                unpack(clip_recipe_train_inputs),
            output:
                model=clip_recipe_checkpoint("{recipe}", "{scale}"),
                info=clip_recipe_checkpoint("{recipe}", "{scale}", "train.json"),
            log:
                f"{LOGS}/clip/recipes/train/{{recipe}}/n{{scale}}.log",
            benchmark:
                benchmark("train_clip_recipe", "{recipe}/n{scale}")
            wildcard_constraints:
                recipe=CLIP_RECIPE_RE,
            threads: max(THREADS, CLIP["train"]["gpus"])
            resources:
                nodes=clip_resources("nodes"),
                gpu=clip_resources("gpu"),
                gres=clip_resources("gres"),
                cpus_per_task=lambda w, threads: threads,
                mem_mb=mem_mb,
                runtime=runtime_clip,
            params:
                config=job_config(keys.CLIP_TRAIN),
                run=lambda w: clip_study.recipe_run(CLIP, w.recipe),
                recipe="{recipe}",
                scale="{scale}",
            script:
                "../scripts/train_clip_recipe.py"

        rule evaluate_clip_recipe:
            input:
                unpack(clip_recipe_eval_inputs),
            output:
                clip_recipe_eval_json("{recipe}", "{scale}"),
            log:
                f"{LOGS}/clip/recipes/eval/{{recipe}}/n{{scale}}.log",
            benchmark:
                benchmark("evaluate_clip_recipe", "{recipe}/n{scale}")
            wildcard_constraints:
                recipe=CLIP_RECIPE_RE,
            threads: THREADS
            resources:
                gpu=1,
                cpus_per_task=THREADS,
                mem_mb=mem_mb,
            params:
                config=job_config(keys.CLIP_EVAL),
                run=lambda w: clip_study.recipe_run(CLIP, w.recipe)["name"],
                scale="{scale}",
            script:
                "../scripts/evaluate_clip_recipe.py"

        rule clip_recipes:
            input:
                evals=clip_recipe_evals(),
            output:
                csv=clip_recipe_table("csv"),
                json=clip_recipe_table("json"),
                png=report(
                    clip_recipe_table("png"),
                    caption="../report/clip_recipes.rst",
                    category="6 CLIP",
                    labels=cross_run_labels("Table A10: CLIP recipe S vs L"),
                ),
            log:
                f"{LOGS}/clip/recipes.log",
            group:
                "summarize"
            params:
                config=job_config(("clip.recipe_study",)),
            script:
                "../scripts/clip_recipes.py"
