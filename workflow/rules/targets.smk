# The study's end products: the default target (each run's scaling law or evaluations, quality,
# per-class analysis, the report, the CLIP study), what a fit and an analysis read, the runs the
# report shows and the labels of the report's figures.


def run_targets(runs):
    out = []
    for name, run in runs.items():
        if len(run.scales) >= 2:
            out.append(scaling_json(name))
        else:
            out += [eval_json(name, s) for s in run.scales]
        if not run.is_real:
            out += [quality_json(name), per_class_fid_json(name)]
    return sorted(set(out), key=out.index)


def final_targets(ledger=True):
    """The default target; with the cost ledger (ledger=False: what the ledger waits for)."""
    runs = report_runs()
    analyses = [analysis_json(n) for n, r in runs.items() if not r.is_real and len(r.scales) >= 2]
    # the real scales' subsets, checked against the data and recorded (nothing depends on this file)
    subsets = [data_file("real_subsets.json")] if any(r.is_real for r in RUNS.values()) else []
    ledger = [ledger_csv()] if ledger else []
    return run_targets(runs) + analyses + report_targets() + clip_targets() + subsets + ledger


def fitted_runs():
    """Runs with a scaling law (two scales or more); a seed variant enters its run's fit."""
    return [name for name, run in RUNS.items() if len(run.scales) >= 2 and not run.seed_of]


# ---------------------------------------------------------------- fits and analysis
def run_params(wildcards):
    r = run_of(wildcards)
    if r.seed_of:
        raise WorkflowError(
            f"'{r.name}' is a seed variant of '{r.seed_of}': it enters that run's fit ({scaling_json(r.seed_of)})"
        )
    return {
        "name": r.name,
        "model": r.model,
        "guidance": r.guidance,
        "prompt": r.prompt,
        "fit_range": r.fit_range,
        "seed_runs": list(r.seed_runs),
    }


def fit_evals(wildcards):
    """The evaluations a run's fit reads: every scale, of the run and of its seed variants."""
    r = run_of(wildcards)
    return [eval_json(n, s) for n in (r.name, *r.seed_runs) for s in r.scales]


# ---------------------------------------------------------------- the report
def report_runs():
    """The runs the report shows: those of the default target."""
    return {n: r for n, r in RUNS.items() if r.default_target}


def report_fits():
    return [scaling_json(n) for n, r in report_runs().items() if len(r.scales) >= 2]


def report_evals():
    """The evaluation at each report run's largest scale."""
    return [eval_json(n, max(r.scales)) for n, r in report_runs().items()]


def report_quality():
    return [quality_json(n) for n, r in report_runs().items() if not r.is_real]


def report_run_params():
    out = {}
    for n, r in report_runs().items():
        out[n] = {
            "model": r.model,
            "guidance": r.guidance,
            "prompt": r.prompt,
            "fit": scaling_json(n) if len(r.scales) >= 2 else None,
            "last_eval": eval_json(n, max(r.scales)),
            "quality": None if r.is_real else quality_json(n),
        }
    return out


def report_targets():
    out = [report_file("summary.html")]
    out += [sample_png(r.data) for r in report_runs().values() if not r.is_real]
    return sorted(set(out), key=out.index)


def paper_table():
    """report.paper_table as an input (a relative path is the project's own, e.g. data/paper_grid_1p3M.csv)."""
    p = CFG["report"]["paper_table"]
    if not p:
        return []
    return [p if Path(p).is_absolute() else str(Path(workflow.basedir) / p)]


def cross_run_labels(figure):
    """Report labels of a figure across runs (the same keys as a run's)."""
    return {"model": "all runs", "guidance": "-", "prompt": "-", "figure": figure}


def run_labels(name, figure):
    """Report labels of a run's figure: model, guidance, prompt set."""
    model, guidance, prompt = C.parse_name(name)
    return {
        "model": model,
        "guidance": "-" if guidance is None else C.fmt_guidance(guidance),
        "prompt": prompt or "-",
        "figure": figure,
    }


# ---------------------------------------------------------------- the CLIP study
def clip_targets():
    """The study's fits and summary (and the CFG sweep's and Table A10's tables), when the study is
    in the default target."""
    if not CLIP or not CLIP["study"]["default_target"]:
        return []
    return (
        [clip_summary("csv")]
        + ([clip_sweep("csv")] if CLIP["cfg_sweep"] else [])
        + ([clip_recipe_table("csv")] if CLIP.get("recipe_study") else [])
    )


# ---------------------------------------------------------------- the analysis and the report's inputs
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


def report_all_evals():
    """The evaluations of every report run at every scale (Tables A7, A8; -log L at D_I of runs
    without a fit)."""
    return [eval_json(n, s) for n, r in report_runs().items() for s in r.scales]


def report_figure_runs():
    """Each report run's model, guidance, prompt set and the files of it among the inputs."""
    out = report_run_params()
    for n, r in report_runs().items():
        out[n]["evals"] = [eval_json(n, s) for s in r.scales]
    return out


# the cost ledger's helpers (ledger.smk)
def ledger_csv():
    return f"{RES}/ledger.csv"


def ledger_rules():
    """For every rule with a benchmark directive, its name -> the pattern of its benchmark file and
    of the first JSON it writes (a directory output's: the training record the step writes in it;
    None when it writes none)."""
    out = {}
    for r in workflow.rules:
        if r.benchmark is None:
            continue
        jsons = [str(o) for o in r.output if str(o).endswith(".json")]
        jsons += [f"{o}/{keys.T2I_RECORD}" for o in r.output if o.is_directory]
        out[r.name] = {"benchmark": str(r.benchmark), "record": jsons[0] if jsons else None}
    return dict(sorted(out.items()))


def ledger_item(name, caption, figure):
    return report(
        report_file(name),
        caption=f"../report/{caption}",
        category="8 Progress and cost",
        labels=cross_run_labels(figure),
    )
