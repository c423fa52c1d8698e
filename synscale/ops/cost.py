"""The cost model: what a job does (its work units), on how many GPUs, and at what rate.

* ``job_work``: the work of a job from the configuration alone: a generation job's images (a
  shard's ``generation.shard_size``, a twin block's captions, a test set's ``testset_per_class`` x
  classes), a classifier's samples seen (iterations x global batch of its recipe) and steps, with
  the keys a measured rate is compared on (T2I model or classifier arch, resolution);
* ``gpus_of``: the GPUs a rule's job asks for, from the configuration (the rules' own ``gpu``
  requests: ``generation.gpus``, the classifier's and CLIP's ``nodes x gpus``, 1 for the other
  GPU rules, 0 for CPU rules);
* ``table_rate`` / ``table_job_hours``: the config's ``cost:`` table, per GPU type: images/s per
  GPU of each T2I model (``generation``), samples/s per GPU of each classifier arch
  (``training``) and CLIP model (``clip_training``, open_clip's name), GPU-hours per job of other
  rules (``job_hours``).

GPU-hours of a job with a rate: work / rate / 3600 (the rate is per GPU, so the job's wall time on
g GPUs is that / g). On a machine without GPUs the same figures count the job's process-hours,
with the GPU type ``cpu``.
"""
from __future__ import annotations

from dataclasses import dataclass

# rule -> the kind of rate its work is measured in (rules of one kind compare with each other)
RATE_KIND = {"generate_shard": "generation", "generate_testset": "generation", "train_classifier": "training",
             "train_clip": "clip_training", "train_clip_recipe": "clip_training"}
# rules whose jobs ask for one GPU (workflow/rules/*.smk: resources gpu=1)
ONE_GPU_RULES = frozenset({"evaluate", "captions", "quality", "val_features", "train_features", "per_class_fid",
                           "evaluate_reference", "train_reference", "train_t2i", "evaluate_clip",
                           "evaluate_clip_recipe"})


@dataclass(frozen=True)
class Work:
    kind: str                   # generation | training
    unit: str                   # images | samples
    amount: float
    steps: int | None = None
    model: str | None = None    # the T2I model (generation)
    arch: str | None = None     # the classifier arch (training)
    resolution: int | None = None

    @property
    def subject(self) -> str | None:
        """What the rate depends on: the T2I model or the classifier arch."""
        return self.model if self.kind == "generation" else self.arch


def n_classes(cfg: dict) -> int | None:
    """Classes of the data: 10 for the embedded digits, the length of a webdataset's class index
    (None when it cannot be read here)."""
    data = cfg["data"]
    if data["source"] == "embedded_mnist":
        return 10
    try:
        from synscale.io import read_json

        idx = read_json(data["class_index"])
    except (OSError, ValueError, KeyError):
        return None
    names = idx.get("names") if isinstance(idx, dict) else idx
    return len(names) if isinstance(names, list) else None


def all_runs(cfg: dict) -> dict:
    from synscale import config as C

    return {**C.clip_twin_runs(cfg), **C.runs(cfg)} if cfg.get("clip") else C.runs(cfg)


def model_of(run: str, cfg: dict) -> str | None:
    from synscale import config as C

    try:
        return C.parse_name(run)[0]
    except C.ConfigError:
        return None


def job_work(rule: str, wildcards: dict, cfg: dict, runs: dict | None = None) -> Work | None:
    """The work of a generation or classifier-training job (None for other rules, or where the
    configuration does not say)."""
    from synscale import config as C
    from synscale.config import recipes as R

    kind = RATE_KIND.get(rule)
    if kind == "generation":
        run = wildcards.get("run", "")
        _, _, prompt = C.parse_name(run) if model_of(run, cfg) else (None, None, None)
        datasets = (cfg.get("clip") or {}).get("datasets") or {}
        if rule == "generate_testset":
            c = n_classes(cfg)
            amount = cfg["generation"]["testset_per_class"] * c if c else None
        elif prompt in datasets:
            ds = datasets[prompt]
            amount = ds["shard_size"] * ds.get("shards_per_block", 1)
        else:
            amount = cfg["generation"]["shard_size"]
        if amount is None:
            return None
        return Work(kind, "images", float(amount), model=model_of(run, cfg), resolution=cfg["data"]["image_size"])
    if kind == "training":
        run = (runs if runs is not None else all_runs(cfg)).get(wildcards.get("run", ""))
        if run is None or not str(wildcards.get("scale", "")).isdigit():
            return None
        cc = C.run_classifier(cfg["classifier"], run.classifier)
        rec = R.build(cc, int(wildcards["scale"]))
        return Work(kind, "samples", float(rec.iters * rec.global_batch), steps=rec.iters, arch=cc["arch"],
                    resolution=cc["input_size"])
    if kind == "clip_training" and str(wildcards.get("scale", "")).isdigit():
        clip = cfg["clip"]
        train = clip["train"]
        if rule == "train_clip_recipe":  # Table A10: the named recipe at any scale
            named = [r for r in train["recipes"] if r["name"] == wildcards.get("recipe")]
            if not named:
                return None
            train = {**train, "recipes": [{**named[0], "from_scale": 0}]}
        r = R.pick_recipe(train, int(wildcards["scale"]))
        return Work(kind, "samples", float(r.steps * r.batch_size), steps=r.steps,
                    arch=str((clip.get("model") or {}).get("name") or "clip"), resolution=cfg["data"]["image_size"])
    return None


def gpus_of(rule: str, wildcards: dict, cfg: dict, runs: dict | None = None) -> int:
    """The GPUs a job of ``rule`` asks for under ``cfg`` (what workflow/rules/*.smk request)."""
    from synscale import config as C

    if rule in ("generate_shard", "generate_testset"):
        return int(cfg["generation"].get("gpus", 1))
    if rule == "train_classifier":
        run = (runs if runs is not None else all_runs(cfg)).get(wildcards.get("run", ""))
        cc = C.run_classifier(cfg["classifier"], run.classifier if run else None)
        return int(cc["nodes"]) * int(cc["gpus"])
    if rule in ("train_clip", "train_clip_recipe"):
        tr = (cfg.get("clip") or {}).get("train") or {}
        return int(tr.get("nodes", 1)) * int(tr.get("gpus", 1))
    if rule == "prompts":
        return 1 if wildcards.get("prompt") == "word2sen" else 0
    return 1 if rule in ONE_GPU_RULES else 0


def gpu_matches(device: str | None, gpu_type: str) -> bool:
    """Whether a recorded device (``NVIDIA A100-SXM4-80GB``, ``cpu``) is of the cost table's GPU
    type (``A100``, ``cpu``): the type named in the device's name, case aside."""
    if not device:
        return False
    d, g = str(device).lower(), str(gpu_type).lower()
    return d == g if g == "cpu" else g in d


def _section(cost: dict, name: str, gpu_type: str) -> dict:
    for key, rates in (cost.get(name) or {}).items():
        if str(key).lower() == str(gpu_type).lower():
            return rates or {}
    return {}


def table_rate(cost: dict, work: Work, gpu_type: str) -> float | None:
    """Units per second per GPU for ``work`` on ``gpu_type`` from the ``cost:`` table, or None."""
    rate = _section(cost, work.kind, gpu_type).get(work.subject or "")
    return float(rate) if rate else None


def table_job_hours(cost: dict, rule: str) -> float | None:
    """GPU-hours per job of ``rule`` from ``cost.job_hours`` (any GPU type), or None."""
    hours = (cost.get("job_hours") or {}).get(rule)
    return None if hours is None else float(hours)


def cost_label(cost: dict) -> str:
    """How the table's figures were obtained, as the plan prints it."""
    what = "estimates" if cost.get("estimate", True) else "measurements"
    src = cost.get("source") or "no source given"
    return f"cost table for {cost.get('gpu', 'cpu')}: {what} ({src})"
