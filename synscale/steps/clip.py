"""Steps of the CLIP rules (``workflow/rules/clip.smk``): the embedded caption dataset, a block's
caption table, CLIP training on an arm at a caption scale (``synscale.train.launch``: the classifiers'
launcher), zero-shot evaluation, the per-arm fit, the study's summary and the CFG sweep."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from synscale.clip.captions import BLOCK_COLUMNS, embedded_shards, read_block, train_parts  # noqa: F401
from synscale.data.integrity import check, record
from synscale.io import atomic_path, read_json, save_tensors, write_json
from synscale.logs import Progress
from synscale.provenance import provenance
from synscale.seeds import seed_for
from synscale.steps.common import load_classes, read_output, set_threads
from synscale.steps.keys import OOD_PREFIX, PROBE_PREFIX
from synscale.train.resume import resume_path

log = logging.getLogger("synscale")


# --------------------------------------------------------------------------- caption data


def embedded_data(cfg: dict, train_shards: Sequence[str], incap_table: str, shard_size: int,
                  out_manifest: str) -> dict:
    """The embedded caption dataset: the real train digits, each with its incap caption (class name
    and the embedded captioner's description), as image-text shards of ``shard_size`` beside
    ``out_manifest``."""
    import pandas as pd

    from synscale.data.shards import Sample, write_shard
    from synscale.steps.common import read_images

    t0 = time.time()
    data = read_images(train_shards, cfg)
    table = pd.read_parquet(incap_table)
    by_key = {src.split(":", 1)[1]: p for src, p in zip(table["source"], table["prompt"])}
    missing = [k for k in data.keys if k not in by_key]
    if missing:
        raise ValueError(f"{incap_table}: no caption for train samples {missing[:3]}; rebuild it with "
                         f"snakemake --forcerun {incap_table}")
    files = {}
    for i, tar in enumerate(embedded_shards(Path(out_manifest).parent, len(data), shard_size)):
        lo, hi = i * shard_size, min(len(data), (i + 1) * shard_size)
        n = write_shard(tar, (Sample(data.keys[j], data.images[j], int(data.labels[j]), by_key[data.keys[j]])
                              for j in range(lo, hi)))
        files[Path(tar).name] = record(tar, n)
    info = {"dataset": Path(out_manifest).parent.name, "captions": len(data), "files": files,
            "examples": [by_key[k] for k in data.keys[:5]],
            "provenance": provenance(cfg, wall_time_s=time.time() - t0)}
    write_json(out_manifest, info)
    log.info("embedded caption dataset: %d digits in %d shards", len(data), len(files))
    return info


def caption_block(cfg: dict, dataset: str, block: int, shards: Sequence[str], out_parquet: str,
                  out_json: str, manifests: Sequence[str] = ()) -> dict:
    """The captions of block ``block`` of a caption dataset, in shard order: key, caption, class
    index (-1 without a ``cls`` member) and source shard; the table the twins are generated from
    and the training jobs read the block's source shards through."""
    import pandas as pd

    from synscale.data.shards import _corrupt, iter_samples

    check(shards, manifests)
    t0 = time.time()
    rows = []
    for path in shards:
        n = 0
        for key, d in iter_samples(path):
            if "txt" not in d:
                raise _corrupt(Path(path), f"sample {key!r} has no .txt member; a caption dataset's shards hold "
                               "an image and its caption (open_clip's --train-data layout)")
            cls = d.get("cls")
            rows.append((key, d["txt"].decode("utf-8").strip(), int(cls) if cls else -1, str(path)))
            n += 1
        if not n:
            raise _corrupt(Path(path), "no samples")
    df = pd.DataFrame(rows, columns=BLOCK_COLUMNS)
    dup = df["key"].duplicated()
    if dup.any():
        raise ValueError(f"block {block} of clip dataset {dataset!r}: sample key {df['key'][dup].iloc[0]!r} occurs "
                         "twice; keys must be unique within a block")
    with atomic_path(out_parquet) as tmp:
        df.to_parquet(tmp, index=False)
    info = {"dataset": dataset, "block": block, "count": len(df), "shards": [str(s) for s in shards],
            "empty_captions": int((df["caption"] == "").sum()), "examples": df["caption"].head(3).tolist(),
            "provenance": provenance(cfg, wall_time_s=time.time() - t0)}
    write_json(out_json, info)
    log.info("%s block %d: %d captions from %d shards", dataset, block, len(df), len(shards))
    return info


# --------------------------------------------------------------------------- training


def train_arm(cfg: dict, run: dict, scale: int, blocks: Sequence[str], twins: Sequence[str], out_ckpt: str,
          out_json: str, threads: int = 1, manifests: Sequence[str] = ()) -> dict:
    """CLIP on ``run``'s arm at ``scale`` captions, on clip.train.nodes x gpus processes."""
    from synscale.train.launch import launch

    check(twins, manifests)
    tc = cfg["clip"]["train"]
    per_proc = max(1, int(threads) // tc["gpus"])
    spec = {"entry": "synscale.steps.clip:train_job", "config": cfg, "run": run, "scale": int(scale),
            "blocks": list(map(str, blocks)), "twins": list(map(str, twins)), "out_ckpt": str(out_ckpt),
            "out_json": str(out_json), "threads": per_proc}
    launch(spec, str(out_ckpt) + ".job.json", tc["nodes"], tc["gpus"], per_proc)
    return read_json(out_json)


def train_job(rank: int, world: int, spec: dict) -> None:
    """One process of a CLIP training job (``synscale.train.launch.worker``)."""
    from synscale.clip.model import build_model, make_pair_loader, resume_identity, train_loop, transforms
    from synscale.clip.study import run_train_section
    from synscale.config.recipes import pick_recipe
    from synscale.device import describe, job_device, place, resolve_dtype, work_record
    from synscale.train.resume import load_resume

    cfg, run, scale = spec["config"], spec["run"], spec["scale"]
    tc = run_train_section(cfg["clip"], run)  # a run of Table A10 trains with one named recipe at every scale
    set_threads(spec["threads"])
    t0 = time.time()
    parts, captions = train_parts(run, scale, spec["blocks"], spec["twins"])
    if captions < scale:
        log.warning("%s: the blocks hold %d captions, fewer than the scale %d; training on %d (the fit uses the "
                    "count trained on; lower clip.datasets.%s.shard_size to the mean per shard)",
                    run["name"], captions, scale, captions, run["dataset"])
    recipe = pick_recipe(tc, scale, captions)
    if world != recipe.world:
        raise RuntimeError(f"{world} processes started, but clip.train.nodes x gpus = {recipe.world}")
    device = job_device()
    amp = resolve_dtype(tc["amp"], device)
    seed = seed_for(cfg["seed"], *run.get("seed_parts", ("clip", run["name"])), scale)
    model_spec = run.get("model") or cfg["clip"]["model"]
    model, tokenizer = build_model(model_spec, seed=seed)
    model = place(model, device)
    resume = resume_path(spec["out_ckpt"])
    state = load_resume(resume, resume_identity(recipe, seed))
    start = state["step"] if state else 0
    del state
    loader = make_pair_loader(parts, run["arm"], recipe.micro_batch, transforms(model, True), tokenizer, train=True,
                              seed=seed, rank=rank, world=world, start_batch=start, workers=tc["workers"],
                              shuffle_buffer=tc["shuffle_buffer"], pin_memory=device.type == "cuda")
    p = Progress(f"clip {run['name']} N={scale}", recipe.steps)
    stats = train_loop(model, loader, recipe, seed, amp, resume_path=resume, checkpoint_every=tc["checkpoint_every"],
                       progress=(lambda s, v: p(s + 1, v)) if rank == 0 else None, rank=rank, world_size=world)
    if rank != 0:
        return
    model.cpu()
    meta = {"run": run["name"], "arm": run["arm"], "dataset": run["dataset"], "twins": run["twins"],
            "scale": scale, "captions": captions, "model": model_spec, "recipe": recipe.name}
    with atomic_path(spec["out_ckpt"]) as tmp:
        save_tensors({"state_dict": model.state_dict(), "meta": meta}, tmp)
    dev = describe(device, amp)
    steps = stats["steps"] - (stats.get("resumed_from") or 0)
    work = work_record("samples", steps * recipe.batch_size, stats["train_seconds"], dev, world, steps=steps,
                       arch=model_spec.get("name") if isinstance(model_spec, dict) else str(model_spec))
    out = {**meta, **stats, "blocks": len(parts), "recipe": recipe.as_dict(), **dev, "work": work,
           "files": {Path(spec["out_ckpt"]).name: record(spec["out_ckpt"])},
           "provenance": provenance(cfg, seeds={"train": seed, "syn+real": "seed_for(train seed, 'syn+real', epoch, "
                                                "block)"}, wall_time_s=time.time() - t0)}
    write_json(spec["out_json"], out)
    resume.unlink(missing_ok=True)


def load_model(cfg: dict, ckpt: str):
    """(model, tokenizer, checkpoint meta) of a trained CLIP."""
    from synscale.clip.model import build_model
    from synscale.io import load_tensors

    state = load_tensors(ckpt, "CLIP checkpoint")
    model, tokenizer = build_model(state["meta"].get("model") or cfg["clip"]["model"])  # a run's own model
    model.load_state_dict(state["state_dict"])
    return model.eval(), tokenizer, state["meta"]


# --------------------------------------------------------------------------- zero-shot evaluation


def _val_prompts(cfg: dict, classes_json: str):
    """The class names and templates of val and the OOD sets (their classes are val's)."""
    from synscale.clip.model import templates
    from synscale.clip.zeroshot import Prompts

    zs = cfg["clip"]["zero_shot"]
    temps = templates(zs["templates"])
    tsrc = f"clip.zero_shot.templates = {zs['templates'] if isinstance(zs['templates'], str) else 'a list'}"
    if zs["classnames"] == "openai_imagenet":
        import open_clip

        return Prompts(tuple(open_clip.IMAGENET_CLASSNAMES), tuple(temps), "open_clip IMAGENET_CLASSNAMES", tsrc)
    return Prompts(tuple(load_classes(classes_json)["names"]), tuple(temps), f"data.class_index ({classes_json})",
                   tsrc)


def zero_shot_eval(cfg: dict, run: str, scale: int, ckpt: str, val: Sequence[str], ood: dict[str, list[str]],
             probe_inputs: dict[str, list[str]], classes_json: str, out_json: str, manifests=()) -> dict:
    """Zero-shot top-1 and loss (B.3) on the val split, each OOD set and each probe dataset's test
    split; class text features averaged over the templates (``synscale.clip.zeroshot``: per probe
    dataset, clip-benchmark's class names and templates)."""
    from synscale.clip.model import class_weights, image_features, transforms, zero_shot_scores
    from synscale.clip.zeroshot import evaluate_downstream, probe_test_set
    from synscale.data.loader import ShardPart, make_loader
    from synscale.device import describe, job_device, place, resolve_dtype, work_record
    from synscale.measure.ood import class_subset
    from synscale.measure.probes import probe_kind

    check([ckpt, *val, *(p for ps in ood.values() for p in ps)], manifests)
    t0 = time.time()
    zs, tc = cfg["clip"]["zero_shot"], cfg["clip"]["train"]
    model, tokenizer, meta = load_model(cfg, ckpt)
    device = job_device()
    amp = resolve_dtype(tc["amp"], device)
    model = place(model, device)
    tf = transforms(model, False)
    tau = float(model.logit_scale.detach().exp())
    bs, workers, pin = zs["batch_size"], tc["workers"], device.type == "cuda"

    def shards(paths):
        return make_loader([ShardPart(str(p)) for p in paths], bs, None, 3, tf, workers=min(workers, len(paths)),
                           pin_memory=pin)

    vp = _val_prompts(cfg, classes_json)
    w = class_weights(model, tokenizer, vp.classnames, vp.templates, device).cpu()
    out = {"run": run, "scale": scale, "captions": meta["captions"], "arm": meta["arm"],
           "recipe": meta.get("recipe"), "model": meta.get("model", cfg["clip"]["model"])["name"], "tau": tau,
           "templates": len(vp.templates), "prompts": {"val": vp.record()}}

    def score(loader, weights, subset=None):
        feats, labels = image_features(model, loader, amp)
        return zero_shot_scores(feats, weights, tau, labels, class_subset=subset)

    out["val"] = score(shards(val), w)
    out["ood"] = {}
    for name, paths in ood.items():
        sub = class_subset(cfg["data"]["ood"].get(name, {}).get("class_subset"), len(vp.classnames),
                           f"data.ood.{name}.class_subset")
        out["ood"][name] = score(shards(paths), w, sub)
    out["probes"] = {}
    for name, spec in cfg["probes"].items() if zs["probes"] else ():
        if probe_kind(spec) == "embedded":
            continue  # the embedded probe's digits are the OOD set above
        loader, own, own_src = probe_test_set(name, spec, tf, probe_inputs.get(name + "_test"), bs, workers, pin)
        out["probes"][name] = evaluate_downstream(model, tokenizer, name, spec, zs, loader, own, own_src,
                                                  vp.templates, tau, device, amp)
        out["prompts"][name] = {k: out["probes"][name][k] for k in ("classnames_source", "templates_source")}
    down = out["probes"] or out["ood"]
    out["downstream_sets"] = sorted(down)
    out["downstream_average"] = float(np.mean([v["top1"] for v in down.values()])) if down else None
    out.update(describe(device, amp))
    scored = out["val"]["n"] + sum(v["n"] for v in out["ood"].values()) + sum(v["n"] for v in out["probes"].values())
    out["work"] = work_record("images", scored, time.time() - t0, out)
    out["provenance"] = provenance(cfg, wall_time_s=time.time() - t0)
    write_json(out_json, out)
    log.info("%s N=%d: zero-shot val top-1 %.4f loss %.4f (tau %.1f)", run, scale, out["val"]["top1"],
             out["val"]["loss"], tau)
    return out


# --------------------------------------------------------------------------- fits and tables


def fit_arm(cfg: dict, arm: str, run: str, eval_jsons: Sequence[str], out_json: str,
            out_png: str | None = None) -> dict:
    """The power law of the zero-shot val loss against the captions trained on (Fig. 9) over the
    fitted scales (``synscale.clip.study.fit_selection``: clip.study.fit_range, by default the
    scales below the first recipe switch), with the zero-shot error and the downstream average
    beside it; every scale's point is kept. D_I is the smallest fitted scale."""
    from synscale.analysis.fit import fit_or_none, fit_series
    from synscale.clip.study import fit_selection

    t0 = time.time()
    evals = sorted((read_output(p, cfg) for p in eval_jsons), key=lambda e: e["scale"])
    study = {**cfg["clip"]["study"], "scales": [e["scale"] for e in evals]}
    sel = fit_selection(study, cfg["clip"]["train"]["recipes"], cfg["fit"]["min_points"])
    if sel["crosses_recipe_switch"]:
        log.warning("clip %s: the fit spans recipes %s (clip.study.fit_range %s); the paper fits below the switch",
                    arm, sel["fit_recipes"], sel["fit_range"])
    used = [e for e in evals if e["scale"] in sel["scales"]]
    x = [e["captions"] for e in used]
    d_i = min(x)
    boot = seed_for(cfg["seed"], "clip-fit", run)
    res = fit_series(x, [e["val"]["loss"] for e in used], d_i, seed=boot,  # the broken law: every scale
                     all_scales=[e["captions"] for e in evals], all_values=[e["val"]["loss"] for e in evals])
    points = [{"scale": e["scale"], "captions": e["captions"], "recipe": sel["recipes"][str(e["scale"])],
               "in_fit": e["scale"] in sel["scales"], "val_loss": e["val"]["loss"], "val_top1": e["val"]["top1"],
               "tau": e["tau"], "downstream_average": e["downstream_average"],
               "ood": {k: {"loss": v["loss"], "top1": v["top1"]} for k, v in e["ood"].items()},
               "probes": {k: v["top1"] for k, v in e["probes"].items()}} for e in evals]
    out = {"arm": arm, "run": run, "metric": "zero-shot val loss, learned temperature", "x": "captions",
           "reference_scale_D_I": d_i, "fit_range": sel["fit_range"], "fit_rule": sel["rule"],
           "fit_scales": sel["scales"], "fit_captions": x, "fit_recipes": sel["fit_recipes"],
           "crosses_recipe_switch": sel["crosses_recipe_switch"], **res,
           "val_error_fit": fit_or_none(x, [1 - e["val"]["top1"] for e in used], d_i),
           "loss_falls_with_scale": bool(all(a["val_loss"] > b["val_loss"] for a, b in zip(points, points[1:]))),
           "points": points,
           "provenance": provenance(cfg, seeds={"bootstrap": boot}, wall_time_s=time.time() - t0)}
    write_json(out_json, out)
    if out_png:
        from synscale.report.plots import scaling_plot

        scaling_plot({**out, "run": f"CLIP, {arm}", "fit_scales": x,
                      "points": [{**p, "scale": p["captions"]} for p in points]}, out_png,
                     xlabel="captions", ylabel="zero-shot loss (val, learned temperature)")
    log.info("clip %s: k=%.3f CI %s R2=%.3f over %s", arm, res["k"], res.get("k_ci_boot"), res["r2"], sel["scales"])
    return out


def summarize(cfg: dict, fits: dict[str, str], out_csv: str, out_json: str, out_png: str,
              per_dataset_csv: str | None = None, per_dataset_png: str | None = None) -> dict:
    """Table 1 / A12, each arm's k, Fig. 9 / A14 and Fig. A15 (``synscale.clip.tables.summary``)."""
    from synscale.clip import tables

    t0 = time.time()
    out = tables.summary({arm: read_output(p, cfg) for arm, p in fits.items()}, out_csv, out_png, per_dataset_csv,
                         per_dataset_png)
    out["provenance"] = provenance(cfg, wall_time_s=time.time() - t0)
    write_json(out_json, out)
    return out


def sweep_table(cfg: dict, evals: dict[str, str], out_csv: str, out_png: str) -> list[dict]:
    """Table A11: zero-shot val top-1 and loss and the downstream average per guidance."""
    from synscale.clip import tables

    return tables.sweep({g: read_output(p, cfg) for g, p in evals.items()}, out_csv, out_png)


def recipe_table(cfg: dict, evals: Sequence[str], out_csv: str, out_json: str, out_png: str) -> dict:
    """Table A10: S vs L recipe on the real arm at clip.recipe_study.scales."""
    from synscale.clip import tables

    t0 = time.time()
    rows = tables.recipes([read_output(p, cfg) for p in evals], out_csv, out_png)
    out = {"recipe_study": cfg["clip"]["recipe_study"], "rows": rows,
           "provenance": provenance(cfg, wall_time_s=time.time() - t0)}
    write_json(out_json, out)
    return out


# --------------------------------------------------------------------------- rule entry points


def clip_data_embedded(job) -> dict:
    return embedded_data(job.config, job.input["train"], job.input["incap"], int(job.params["shard_size"]),
                         job.output["info"])


def clip_captions(job) -> dict:
    return caption_block(job.config, job.params["dataset"], int(job.params["block"]), job.input["shards"],
                         job.output["table"], job.output["info"], job.input["manifests"])


def train_clip(job) -> dict:
    return train_arm(job.config, job.params["run"], int(job.params["scale"]), job.input["blocks"], job.input["twins"],
                 job.output["model"], job.output["info"], threads=job.threads, manifests=job.input["manifests"])


def evaluate_clip(job) -> dict:
    ood = {k[len(OOD_PREFIX):]: v for k, v in job.input.items() if k.startswith(OOD_PREFIX)}
    probes = {k[len(PROBE_PREFIX):]: v for k, v in job.input.items() if k.startswith(PROBE_PREFIX)}
    return zero_shot_eval(job.config, job.params["run"], int(job.params["scale"]), job.input["model"], job.input["val"],
                    ood, probes, job.input["classes"], job.output["out"], job.input["manifests"])


def fit_clip(job) -> dict:
    return fit_arm(job.config, job.params["arm"], job.params["run"], job.input["evals"], job.output["json"],
               job.output["png"])


def clip_summary(job) -> dict:
    return summarize(job.config, dict(zip(job.params["arms"], job.input["fits"])), job.output["csv"],
                     job.output["json"], job.output["png"], job.output.get("per_dataset_csv"),
                     job.output.get("per_dataset_png"))


def clip_cfg_sweep(job) -> list[dict]:
    return sweep_table(job.config, dict(zip(job.params["guidance"], job.input["evals"])), job.output["csv"],
                     job.output["png"])


def train_clip_recipe(job) -> dict:
    return train_arm(job.config, job.params["run"], int(job.params["scale"]), job.input["blocks"], [],
                     job.output["model"], job.output["info"], threads=job.threads)


def evaluate_clip_recipe(job) -> dict:
    return evaluate_clip(job)


def clip_recipes(job) -> dict:
    return recipe_table(job.config, job.input["evals"], job.output["csv"], job.output["json"], job.output["png"])
