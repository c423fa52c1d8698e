"""The semantic checks a schema cannot express: unknown models and prompt sets, guidance outside a
model's range, recipes that do not split over processes, fit ranges, the CLIP study, image sizes
(scale lists, shard capacities and derived names: ``limits``). Each returns messages that name the
config key and the fix."""
from __future__ import annotations

from .limits import limit_errors
from .names import (
    PROMPT_SETS,
    REAL,
    SUPPORTED_PROMPTS,
    TIMM_SUBSETS,
    TRAINABLE_FAMILIES,
    fmt_guidance,
)
from .recipes import build
from .runs import run_classifier

_PROMPT_MODEL_HINT = {
    "word2sen": "a local sequence-to-sequence model: set prompts.word2sen.path to the save_pretrained directory "
                "of a T5 fine-tuned for concept-to-sentence (e.g. t5-base-finetuned-common_gen)",
    "incap": "a local captioner: set prompts.captioner.path to a BLIP-2 save_pretrained directory",
}


def _prompt_model(cfg: dict, prompt: str) -> str | None:
    """The local model path a prompt set needs, when configured."""
    section = {"word2sen": "word2sen", "incap": "captioner"}.get(prompt)
    return cfg["prompts"][section]["path"] if section else None


def _range_errors(key: str, bounds, what: str) -> list[str]:
    lo, hi = bounds
    if lo > hi:
        return [f"config key '{key}': the range [{lo:g}, {hi:g}] is reversed; write it as [{hi:g}, {lo:g}]"]
    if lo == hi and what == "fit":
        return [f"config key '{key}': lower bound {lo} must be below upper bound {hi}"]
    return []


def _run_errors(cfg: dict, i: int, run: dict) -> list[str]:
    errs: list[str] = []
    key = f"runs[{i}]"
    models = cfg["models"]
    source = cfg["data"]["source"]
    supported = SUPPORTED_PROMPTS[source]
    model = run["model"]
    if model != REAL:
        if model not in models:
            errs.append(f"config key '{key}.model': unknown model {model!r}; "
                        f"define it under 'models' (known: {sorted(models)}) or use 'real'")
        elif "guidance" not in run:
            errs.append(f"config key '{key}.guidance': required for model {model!r}")
        else:
            lo, hi = models[model]["guidance_range"]
            if lo <= hi and not lo <= run["guidance"] <= hi:
                errs.append(f"config key '{key}.guidance': guidance {run['guidance']:g} is outside the range "
                            f"[{lo:g}, {hi:g}] of model {model!r} (models.{model}.guidance_range)")
        prompt = run.get("prompt")
        if prompt is None:
            errs.append(f"config key '{key}.prompt': required for model {model!r}")
        elif prompt not in PROMPT_SETS:
            errs.append(f"config key '{key}.prompt': unknown prompt set {prompt!r}; known: {', '.join(PROMPT_SETS)}")
        elif prompt not in supported and not _prompt_model(cfg, prompt):
            errs.append(f"config key '{key}.prompt': prompt set {prompt!r} is not available for "
                        f"data.source={source!r} without {_PROMPT_MODEL_HINT[prompt]} "
                        f"(available without one: {', '.join(supported)})")
    else:
        for k in ("guidance", "prompt"):
            if k in run:
                errs.append(f"config key '{key}.{k}': the real-data run has no {k}; remove it")
    scales = run["scales"]
    if model == REAL and source == "embedded_mnist" and "train_size" in cfg["data"]:
        n_train = cfg["data"]["train_size"]
        big = [s for s in scales if s > n_train]
        if big:
            errs.append(f"config key '{key}.scales': real-data scales {big} exceed the train split "
                        f"(data.train_size={n_train})")
    if "fit_range" in run:
        errs += _range_errors(f"{key}.fit_range", run["fit_range"], "fit")
    return errs


def _recipe_errors(cfg: dict) -> list[str]:
    """The global batch must split evenly over each training job's processes and accumulation."""
    errs = []
    sections = [("classifier", cfg["classifier"])]
    sections += [(f"runs[{i}].classifier", run_classifier(cfg["classifier"], r["classifier"]))
                 for i, r in enumerate(cfg["runs"]) if r.get("classifier")]
    for key, cc in sections:
        try:
            build(cc, iters=1, warmup=0)
        except ValueError as e:
            errs.append(f"config key '{key}': {e}")
    return errs


def _probe_errors(cfg: dict) -> list[str]:
    errs = []
    embedded = cfg["data"]["source"] == "embedded_mnist"
    for name, spec in cfg["probes"].items():
        key = f"probes.{name}"
        groups = (("torchvision", ("torchvision", "root")), ("shards", ("train_shards", "test_shards")),
                  ("embedded", ("embedded",)))
        kinds = [k for k, keys in groups if any(spec.get(x) for x in keys)]
        if len(kinds) != 1:
            errs.append(f"config key '{key}': give exactly one of torchvision + root, train_shards + test_shards, "
                        f"or embedded (got {kinds or 'none'})")
        elif kinds == ["torchvision"] and not (spec.get("torchvision") and spec.get("root")):
            errs.append(f"config key '{key}': a torchvision probe needs both 'torchvision' and 'root'")
        elif kinds == ["shards"] and not (spec.get("train_shards") and spec.get("test_shards")):
            errs.append(f"config key '{key}': a webdataset probe needs both 'train_shards' and 'test_shards'")
        elif kinds == ["embedded"] and not embedded:
            errs.append(f"config key '{key}.embedded': only for data.source 'embedded_mnist'")
    return errs


def _grid_errors(cfg: dict) -> list[str]:
    grid = cfg["grid"]
    if grid is None:
        return []
    errs = []
    models = cfg["models"]
    supported = SUPPORTED_PROMPTS[cfg["data"]["source"]]
    for p in grid["prompts"]:
        if p not in PROMPT_SETS:
            errs.append(f"config key 'grid.prompts': unknown prompt set {p!r}; known: {', '.join(PROMPT_SETS)}")
        elif p not in supported and not _prompt_model(cfg, p):
            errs.append(f"config key 'grid.prompts': prompt set {p!r} is not available for data.source="
                        f"{cfg['data']['source']!r} without {_PROMPT_MODEL_HINT[p]}")
    if len(set(grid["prompts"])) != len(grid["prompts"]):
        errs.append("config key 'grid.prompts': a prompt set is listed twice")
    if bool(grid["guidance"]) != bool(grid["prompts"]):
        errs.append("config key 'grid': give both 'guidance' (model -> values) and 'prompts' for a sweep, or neither")
    if not grid["guidance"] and not grid["include_runs"]:
        errs.append("config key 'grid': empty; give 'guidance' and 'prompts', or 'include_runs: true', "
                    "or set grid: null")
    for model, values in grid["guidance"].items():
        key = f"grid.guidance.{model}"
        if model not in models:
            errs.append(f"config key '{key}': unknown model {model!r}; define it under 'models' "
                        f"(known: {sorted(models)})")
            continue
        lo, hi = models[model]["guidance_range"]
        bad = [v for v in values if not lo <= v <= hi]
        if bad and lo <= hi:
            errs.append(f"config key '{key}': guidance {', '.join(f'{v:g}' for v in bad)} outside the range "
                        f"[{lo:g}, {hi:g}] of model {model!r} (models.{model}.guidance_range)")
        if len({fmt_guidance(v) for v in values}) != len(values):
            errs.append(f"config key '{key}': a guidance value is listed twice")
    return errs


def _modern_errors(cfg: dict, name: str, m: dict) -> list[str]:
    """The keys of family diffusers: only there, and a model without guidance has no guidance grid
    and runs at guidance 0."""
    errs = []
    key = f"models.{name}"
    if m["family"] != "diffusers":
        for k in ("refiner_path", "resolution", "scheduler"):
            if m.get(k) is not None:
                errs.append(f"config key '{key}.{k}': only for family diffusers; remove it")
        if m.get("guidance", "cfg") != "cfg":
            errs.append(f"config key '{key}.guidance': family {m['family']} takes cfg only (distilled and none are "
                        "for family diffusers)")
        return errs
    if m["guidance"] == "none":
        grid = (cfg.get("grid") or {}).get("guidance") or {}
        if name in grid:
            errs.append(f"config key 'grid.guidance.{name}': model {name!r} takes no guidance "
                        f"({key}.guidance: none); remove it from the guidance grid")
        for i, run in enumerate(cfg["runs"]):
            if run.get("model") == name and run.get("guidance", 0) != 0:
                errs.append(f"config key 'runs[{i}].guidance': model {name!r} takes no guidance ({key}.guidance: "
                            f"none); use guidance 0")
    return errs


def semantic_errors(cfg: dict) -> list[str]:
    """Checks a schema cannot express (``cfg`` has its defaults filled)."""
    errs: list[str] = _recipe_errors(cfg)
    models = cfg["models"]
    source = cfg["data"]["source"]
    for name, m in models.items():
        errs += _range_errors(f"models.{name}.guidance_range", m["guidance_range"], "guidance")
        if m["family"] == "pixel_cascade" and m["path"] and not m["sr_path"]:
            errs.append(f"config key 'models.{name}.sr_path': required for family pixel_cascade (the local "
                        "IFSuperResolutionPipeline directory of stage II)")
        if m["family"] != "pixel_cascade" and m["sr_path"]:
            errs.append(f"config key 'models.{name}.sr_path': only for family pixel_cascade; remove it")
        errs += _modern_errors(cfg, name, m)
    for i, run in enumerate(cfg["runs"]):
        errs += _run_errors(cfg, i, run)
    if cfg["fit"]["range"] is not None:
        errs += _range_errors("fit.range", cfg["fit"]["range"], "fit")
    errs += _grid_errors(cfg)
    errs += _probe_errors(cfg)
    errs += _clip_errors(cfg)
    errs += limit_errors(cfg)
    data = cfg["data"]
    if source == "embedded_mnist":
        missing = [k for k in ("train_size", "val_size") if k not in data]
        if missing:
            return errs + [f"config key 'data.{k}': required when data.source is 'embedded_mnist' "
                           "(e.g. 4000 and 1000 of the 5,000 digits)" for k in missing]
        if data["train_size"] + data["val_size"] > 5000:
            errs.append("config key 'data.train_size': train_size + val_size must be at most 5000 "
                        "(the embedded MNIST digits)")
        if data["val_size"] % 10 or data["train_size"] % 10:
            errs.append("config key 'data.val_size': train_size and val_size must be multiples of 10 classes")
        for k in ("train_shards", "val_shards", "class_index"):
            if k in data:
                errs.append(f"config key 'data.{k}': only for data.source 'webdataset'; "
                            "the embedded default makes its own shards")
        if data["ood"]:
            errs.append("config key 'data.ood': only for data.source 'webdataset'; the embedded default's "
                        "out-of-distribution set is scikit-learn's digits")
        for name, m in models.items():
            if m["path"] is None and "train" not in m:
                errs.append(f"config key 'models.{name}': give a local weights 'path' or a 'train' "
                            "section for the workflow to train a tiny model")
            elif m["path"] is None and m["family"] not in TRAINABLE_FAMILIES:
                errs.append(f"config key 'models.{name}.path': the workflow trains tiny models of family "
                            f"{', '.join(TRAINABLE_FAMILIES)} only; give family {m['family']!r} local weights")
    else:
        for k in ("train_shards", "val_shards", "class_index"):
            if k not in data:
                errs.append(f"config key 'data.{k}': required when data.source is 'webdataset'")
        for k in ("train_size", "val_size"):
            if k in data:
                errs.append(f"config key 'data.{k}': only for data.source 'embedded_mnist' (the webdataset "
                            "splits are whatever data.train_shards and data.val_shards hold); remove it")
        for name, m in models.items():
            if m["path"] is None:
                errs.append(f"config key 'models.{name}.path': required when data.source is 'webdataset' "
                            "(local directory of the model's diffusers weights)")
            if "train" in m:
                errs.append(f"config key 'models.{name}.train': the workflow trains tiny models only for "
                            "data.source 'embedded_mnist'; remove it")
        if cfg["reference_classifier"]["path"] is None:
            errs.append("config key 'reference_classifier.path': required when data.source is 'webdataset' "
                        "(a local timm state dict of the pretrained reference classifier)")
        for name, o in data["ood"].items():
            sub = o["class_subset"]
            if isinstance(sub, str) and sub.startswith("timm:") and sub not in TIMM_SUBSETS:
                errs.append(f"config key 'data.ood.{name}.class_subset': unknown {sub!r}; "
                            f"known: {', '.join(TIMM_SUBSETS)} (or a list of label indices, or a file of them)")
    return errs


def _clip_errors(cfg: dict) -> list[str]:
    clip = cfg.get("clip")
    if not clip:
        return []
    errs = []
    embedded = cfg["data"]["source"] == "embedded_mnist"
    for name, ds in clip["datasets"].items():
        key = f"clip.datasets.{name}"
        if name in PROMPT_SETS:
            errs.append(f"config key '{key}': {name!r} is a prompt set's name; name the dataset otherwise")
        if bool(ds.get("shards")) == bool(ds.get("embedded")):
            errs.append(f"config key '{key}': give either 'shards' (a brace pattern of local image-text shards) "
                        "or 'embedded: digits'")
        elif ds.get("embedded") and not embedded:
            errs.append(f"config key '{key}.embedded': only for data.source 'embedded_mnist'")
    if sum(1 for ds in clip["datasets"].values() if ds.get("embedded")) > 1:
        errs.append("config key 'clip.datasets': one embedded caption dataset at most (the train digits)")
    sections = [("clip.study", clip["study"], [clip["study"]["guidance"]])]
    if clip["cfg_sweep"]:
        sections.append(("clip.cfg_sweep", clip["cfg_sweep"], clip["cfg_sweep"]["guidance"]))
    for key, sec, guidances in sections:
        if sec["dataset"] not in clip["datasets"]:
            errs.append(f"config key '{key}.dataset': unknown dataset {sec['dataset']!r}; define it under "
                        f"clip.datasets (known: {sorted(clip['datasets'])})")
        m = cfg["models"].get(sec["model"])
        if m is None:
            errs.append(f"config key '{key}.model': unknown model {sec['model']!r}; define it under 'models' "
                        f"(known: {sorted(cfg['models'])})")
            continue
        lo, hi = m["guidance_range"]
        bad = [g for g in guidances if not lo <= g <= hi]
        if bad:
            errs.append(f"config key '{key}.guidance': {', '.join(f'{g:g}' for g in bad)} outside the range "
                        f"[{lo:g}, {hi:g}] of model {sec['model']!r} (models.{sec['model']}.guidance_range)")
    mc = clip["model"]["config"]
    if mc is not None and not all(k in mc for k in ("embed_dim", "vision_cfg", "text_cfg")):
        errs.append("config key 'clip.model.config': an open_clip model config needs embed_dim, vision_cfg "
                    "and text_cfg")
    world = clip["train"]["nodes"] * clip["train"]["gpus"]
    for i, r in enumerate(clip["train"]["recipes"]):
        if r["batch_size"] % world:
            errs.append(f"config key 'clip.train.recipes[{i}].batch_size': {r['batch_size']} does not split over "
                        f"clip.train.nodes x gpus = {world} processes")
        elif r["batch_size"] // world > clip["train"]["max_device_batch"]:
            errs.append(f"config key 'clip.train.recipes[{i}].batch_size': {r['batch_size'] // world} images per "
                        f"process, more than clip.train.max_device_batch = {clip['train']['max_device_batch']}; "
                        "use more GPUs (clip.train.nodes / gpus)")
    if clip["zero_shot"]["probes"]:
        zs = clip["zero_shot"]
        named = set(zs.get("probe_classnames") or {}) | {k for k, v in (zs.get("benchmark_keys") or {}).items() if v}
        for name, spec in cfg["probes"].items():
            if spec.get("train_shards") and not spec.get("classnames") and name not in named:
                errs.append(f"config key 'probes.{name}.classnames': CLIP's zero-shot evaluation needs the class "
                            "names of a webdataset probe (a JSON list in label order; or clip.zero_shot."
                            f"probe_classnames.{name}, or clip.zero_shot.benchmark_keys.{name}), or set "
                            "clip.zero_shot.probes: false")
    return errs


def _fit_errors(cfg: dict) -> list[str]:
    """Every run that is fitted has at least fit.min_points scales inside its fit range."""
    errs = []
    need = cfg["fit"]["min_points"]
    for i, r in enumerate(cfg["runs"]):
        if len(r["scales"]) < 2:
            continue  # evaluated, not fitted
        fr = r.get("fit_range") or cfg["fit"]["range"]
        inside = [s for s in r["scales"] if fr is None or fr[0] <= s <= fr[1]]
        if len(inside) < need:
            where = f"runs[{i}].fit_range" if r.get("fit_range") else "fit.range"
            errs.append(f"config key '{where}': run {i} ({r['model']}) has {len(inside)} of its scales "
                        f"{r['scales']} inside the fit range {list(fr) if fr else 'all'}, but fit.min_points is "
                        f"{need}; widen the range, add scales or lower fit.min_points")
    clip = cfg.get("clip")
    if clip and 1 < len(clip["study"]["scales"]) < need:
        errs.append(f"config key 'clip.study.scales': {len(clip['study']['scales'])} scales, fewer than "
                    f"fit.min_points = {need}")
    return errs


def _cascade_size_errors(name: str, tc: dict, size: int) -> list[str]:
    """A trained cascade: stage I's base size below and dividing the image size, and each stage's
    UNet down-sampling dividing its resolution."""
    key = f"models.{name}.train"
    base = tc["base_size"]
    if size <= base or size % base:
        return [f"config key '{key}.base_size': {base} px must divide data.image_size ({size} px) and be "
                "smaller (stage II up-samples by an integer factor)"]
    errs = []
    for stage, res in (("stage_1", base), ("stage_2", size)):
        factor = 2 ** (len(tc["arch"][stage]["channels"]) - 1)
        if res % factor:
            errs.append(f"config key '{key}.arch.{stage}.channels': {len(tc['arch'][stage]['channels'])} "
                        f"resolutions down-sample by {factor}, which does not divide {res} px")
    return errs


def _image_size_errors(cfg: dict) -> list[str]:
    """The embedded T2I models' down-sampling must divide the image size."""
    errs = []
    size = cfg["data"]["image_size"]
    for name, m in cfg["models"].items():
        if "train" not in m:
            continue
        arch = m["train"]["arch"]
        if m["family"] == "masked_token":
            factor = 2 ** (len(arch["vq_channels"]) - 1) * (2 if arch["downsample"] else 1)
            if size % factor:
                errs.append(f"config key 'data.image_size': {size} px does not fit models.{name}.train.arch: its VQ "
                            f"tokenizer{' and transformer' if arch['downsample'] else ''} down-sample by {factor}, "
                            f"so the size must be a multiple of {factor}")
            continue
        if m["family"] == "pixel_cascade":
            errs += _cascade_size_errors(name, m["train"], size)
            continue
        vae_factor = 2 ** (len(arch["vae_channels"]) - 1)
        unet_factor = 2 ** (len(arch["unet_channels"]) - 1)
        if size % (vae_factor * unet_factor):
            errs.append(f"config key 'data.image_size': {size} px does not fit models.{name}.train.arch: its VAE "
                        f"down-samples by {vae_factor} and its UNet by {unet_factor}, so the size must be a "
                        f"multiple of {vae_factor * unet_factor}")
    return errs


