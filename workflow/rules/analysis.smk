# Per-class analysis of each fitted synthetic run (§5, App. E): per-class k against per-class
# quality, the class groups on the plane of k against performance at D_I (Fig. 6), per-class curves
# beside real data (Fig. 7), sample images by group (Fig. 8), the classes of lowest k (Table A9).


def analysis_job_inputs(wildcards):
    """What the analysis of a fitted synthetic run reads: its fit, its evaluations at every scale
    (and its seed variants'), its quality and per-class FID (App. G.4), the class index, the first analysis.samples.shards of its
    generated shards (the sample images) with their manifests, and the real-data run's fit and
    evaluations when it has a fit."""
    run = run_of(wildcards)
    if run.is_real or len(run.scales) < 2:
        raise WorkflowError(f"analysis: '{wildcards.run}' is not a fitted synthetic run")
    shards = shards_for(run.name, max(run.scales))[: CFG["analysis"]["samples"]["shards"]]
    inputs = {
        "fit": scaling_json(run.name),
        "evals": fit_evals(wildcards),
        "quality": quality_json(run.name),
        "per_class_fid": per_class_fid_json(run.name),
        "classes": classes_json(),
        "shards": shards,
        "manifests": manifests_of(shards),
    }
    real = RUNS.get(C.REAL)
    if real is not None and len(real.scales) >= 2:
        inputs["real_fit"] = scaling_json(C.REAL)
        inputs["real_evals"] = [eval_json(n, s) for n in (real.name, *real.seed_runs) for s in real.scales]
    return inputs


def analysis_item(ext, caption, figure, category="4 Per-class analysis"):
    """A report item of a run's analysis."""
    return report(
        analysis_json("{run}", ext),
        caption=f"../report/{caption}",
        category=category,
        labels=lambda w: run_labels(w.run, figure),
    )


rule analysis:
    input:
        unpack(analysis_job_inputs),
    output:
        json=analysis_json("{run}"),
        png=analysis_item("png", "analysis.rst", "Fig. 5, 6: per-class k and groups"),
        curves=analysis_item("curves.png", "perclass_curves.rst", "Fig. 7: per-class scaling vs real"),
        samples=analysis_item("samples.png", "perclass_samples.rst", "Fig. 8: images by group"),
        table=analysis_item("table.html", "table_a9.rst", "Table A9: classes of lowest k", "7 Paper tables"),
    log:
        LOGS + "/analysis/{run}.log",
    params:
        config=job_config((*keys.ANALYSIS, *keys.SAMPLES)),
    script:
        "../scripts/analysis.py"
