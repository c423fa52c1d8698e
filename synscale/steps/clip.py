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
from synscale.io import atomic_path, read_json, write_json
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
    import torch

    from synscale.clip.model import build_model, make_pair_loader, pick_recipe, resume_identity, train_loop, transforms
    from synscale.device import describe, job_device, place, resolve_dtype
    from synscale.train.resume import load_resume

    cfg, run, scale = spec["config"], spec["run"], spec["scale"]
    tc = cfg["clip"]["train"]
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
    seed = seed_for(cfg["seed"], "clip", run["name"], scale)
    model, tokenizer = build_model(cfg["clip"]["model"], seed=seed)
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
            "scale": scale, "captions": captions, "model": cfg["clip"]["model"]}
    with atomic_path(spec["out_ckpt"]) as tmp:
        torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)
    out = {**meta, **stats, "blocks": len(parts), "recipe": recipe.as_dict(), **describe(device, amp),
           "files": {Path(spec["out_ckpt"]).name: record(spec["out_ckpt"])},
           "provenance": provenance(cfg, seeds={"train": seed, "syn+real": "seed_for(train seed, 'syn+real', epoch, "
                                                "block)"}, wall_time_s=time.time() - t0)}
    write_json(spec["out_json"], out)
    resume.unlink(missing_ok=True)


def load_model(cfg: dict, ckpt: str):
    """(model, tokenizer, checkpoint meta) of a trained CLIP."""
    import torch

    from synscale.clip.model import build_model

    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    model, tokenizer = build_model(cfg["clip"]["model"])
    model.load_state_dict(state["state_dict"])
    return model.eval(), tokenizer, state["meta"]


# --------------------------------------------------------------------------- zero-shot evaluation


def _classnames(cfg: dict, classes_json: str) -> list[str]:
    if cfg["clip"]["zero_shot"]["classnames"] == "openai_imagenet":
        import open_clip

        return list(open_clip.IMAGENET_CLASSNAMES)
    return list(load_classes(classes_json)["names"])


def _probe_test(cfg: dict, name: str, spec: dict, tf, inputs: dict, batch: int, workers: int):
    """(loader of the test split, class names) of a probe dataset for zero-shot evaluation."""
    from torch.utils.data import DataLoader

    from synscale.data.loader import ShardPart, make_loader
    from synscale.measure.probes import pil_transform, probe_kind, torchvision_split

    key = f"probes.{name}"
    names = read_json(spec["classnames"]) if spec.get("classnames") else None
    if probe_kind(spec) == "shards":
        paths = inputs[name + "_test"]
        return make_loader([ShardPart(str(p)) for p in paths], batch, None, 3, tf,
                           workers=min(workers, len(paths))), names
    ds = torchvision_split(spec, "test", pil_transform(tf, 3), key)
    if names is None:
        names = list(getattr(ds, "classes", None) or [])
        if not names:
            raise ValueError(f"config key '{key}.classnames': torchvision's {spec['torchvision']} has no class names; "
                             "give a JSON list of them in label order")
    return DataLoader(ds, batch_size=batch, num_workers=workers), [str(n).replace("_", " ") for n in names]


def zero_shot_eval(cfg: dict, run: str, scale: int, ckpt: str, val: Sequence[str], ood: dict[str, list[str]],
             probe_inputs: dict[str, list[str]], classes_json: str, out_json: str, manifests=()) -> dict:
    """Zero-shot top-1 and loss (B.3) on the val split, each OOD set and each probe dataset's test
    split; class text features averaged over clip.zero_shot.templates."""
    from synscale.clip.model import class_weights, image_features, templates, transforms, zero_shot_scores
    from synscale.data.loader import ShardPart, make_loader
    from synscale.device import describe, job_device, place, resolve_dtype
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
    temps = templates(zs["templates"])
    tau = float(model.logit_scale.detach().exp())
    bs, workers = zs["batch_size"], tc["workers"]

    def shards(paths):
        return make_loader([ShardPart(str(p)) for p in paths], bs, None, 3, tf, workers=min(workers, len(paths)),
                           pin_memory=device.type == "cuda")

    names = _classnames(cfg, classes_json)
    w = class_weights(model, tokenizer, names, temps, device).cpu()
    out = {"run": run, "scale": scale, "captions": meta["captions"], "arm": meta["arm"], "tau": tau,
           "templates": len(temps)}

    def score(loader, weights, subset=None):
        feats, labels = image_features(model, loader, amp)
        return zero_shot_scores(feats, weights, tau, labels, class_subset=subset)

    out["val"] = score(shards(val), w)
    out["ood"] = {}
    for name, paths in ood.items():
        sub = class_subset(cfg["data"]["ood"].get(name, {}).get("class_subset"), len(names),
                           f"data.ood.{name}.class_subset")
        out["ood"][name] = score(shards(paths), w, sub)
    out["probes"] = {}
    if zs["probes"]:
        for name, spec in cfg["probes"].items():
            if probe_kind(spec) == "embedded":
                continue  # the embedded probe's digits are the OOD set above
            loader, pnames = _probe_test(cfg, name, spec, tf, probe_inputs, bs, workers)
            pw = class_weights(model, tokenizer, pnames, temps, device).cpu()
            res = score(loader, pw)
            out["probes"][name] = {k: v for k, v in res.items() if not k.startswith("per_class")}
    down = out["probes"] or out["ood"]
    out["downstream_sets"] = sorted(down)
    out["downstream_average"] = float(np.mean([v["top1"] for v in down.values()])) if down else None
    out.update(describe(device, amp))
    out["provenance"] = provenance(cfg, wall_time_s=time.time() - t0)
    write_json(out_json, out)
    log.info("%s N=%d: zero-shot val top-1 %.4f loss %.4f (tau %.1f)", run, scale, out["val"]["top1"],
             out["val"]["loss"], tau)
    return out


# --------------------------------------------------------------------------- fits and tables


def fit_arm(cfg: dict, arm: str, run: str, eval_jsons: Sequence[str], out_json: str,
            out_png: str | None = None) -> dict:
    """The power law of the zero-shot val loss against the captions trained on (Fig. 9), with the
    zero-shot error and the downstream average beside it; D_I is the smallest scale."""
    from synscale.analysis.fit import fit_or_none, fit_series

    t0 = time.time()
    evals = sorted((read_output(p, cfg) for p in eval_jsons), key=lambda e: e["scale"])
    if len(evals) < cfg["fit"]["min_points"]:
        raise ValueError(f"clip {arm}: {len(evals)} scales, need fit.min_points = {cfg['fit']['min_points']}; "
                         "add scales to clip.study.scales")
    x = [e["captions"] for e in evals]
    d_i = min(x)
    boot = seed_for(cfg["seed"], "clip-fit", run)
    res = fit_series(x, [e["val"]["loss"] for e in evals], d_i, seed=boot)
    points = [{"scale": e["scale"], "captions": e["captions"], "val_loss": e["val"]["loss"],
               "val_top1": e["val"]["top1"],
               "tau": e["tau"], "downstream_average": e["downstream_average"],
               "ood": {k: {"loss": v["loss"], "top1": v["top1"]} for k, v in e["ood"].items()},
               "probes": {k: v["top1"] for k, v in e["probes"].items()}} for e in evals]
    out = {"arm": arm, "run": run, "metric": "zero-shot val loss, learned temperature", "x": "captions",
           "reference_scale_D_I": d_i, **res,
           "val_error_fit": fit_or_none(x, [1 - e["val"]["top1"] for e in evals], d_i),
           "loss_falls_with_scale": bool(all(a["val_loss"] > b["val_loss"] for a, b in zip(points, points[1:]))),
           "points": points,
           "provenance": provenance(cfg, seeds={"bootstrap": boot}, wall_time_s=time.time() - t0)}
    write_json(out_json, out)
    if out_png:
        from synscale.report.plots import scaling_plot

        scaling_plot({**out, "run": f"CLIP, {arm}", "fit_scales": x,
                      "points": [{**p, "scale": p["captions"]} for p in points]}, out_png,
                     xlabel="captions", ylabel="zero-shot loss (val, learned temperature)")
    log.info("clip %s: k=%.3f CI %s R2=%.3f", arm, res["k"], res.get("k_ci_boot"), res["r2"])
    return out


SUMMARY_COLUMNS = ("arm", "scale", "captions", "val_loss", "val_top1", "downstream_average", "tau")


def summarize(cfg: dict, fits: dict[str, str], out_csv: str, out_json: str, out_png: str) -> dict:
    """Table 1 / A12: per arm and scale the zero-shot val loss and top-1 and the downstream average;
    per arm k with its CIs; Fig. 9 (loss vs captions, every arm) and Fig. A14 (downstream average)."""
    import pandas as pd

    from synscale.report.clip_figures import clip_summary_figure

    t0 = time.time()
    rows, arms = [], {}
    for arm, path in fits.items():
        f = read_output(path, cfg)
        ci = f.get("k_ci_boot") or [None, None]
        arms[arm] = {"k": f["k"], "k_ci": f.get("k_ci"), "k_ci_boot": ci, "r2": f["r2"],
                     "largest": f["points"][-1]}
        rows += [{"arm": arm, **{k: p[k] for k in SUMMARY_COLUMNS[1:]}} for p in f["points"]]
    df = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    clip_summary_figure(df, arms, out_png)
    out = {"arms": arms, "rows": rows, "provenance": provenance(cfg, wall_time_s=time.time() - t0)}
    write_json(out_json, out)
    return out


def sweep_table(cfg: dict, evals: dict[str, str], out_csv: str, out_png: str) -> list[dict]:
    """Table A11: zero-shot val top-1 and loss and the downstream average per guidance."""
    import pandas as pd

    from synscale.report.clip_figures import cfg_sweep_figure

    rows = []
    for guidance, path in evals.items():
        e = read_output(path, cfg)
        rows.append({"guidance": float(guidance), "captions": e["captions"], "val_top1": e["val"]["top1"],
                     "val_loss": e["val"]["loss"], "downstream_average": e["downstream_average"]})
    df = pd.DataFrame(rows).sort_values("guidance")
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    cfg_sweep_figure(df, out_png)
    return rows


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
                   job.output["json"], job.output["png"])


def clip_cfg_sweep(job) -> list[dict]:
    return sweep_table(job.config, dict(zip(job.params["guidance"], job.input["evals"])), job.output["csv"],
                     job.output["png"])
