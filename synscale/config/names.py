"""The study's vocabulary: prompt sets, T2I families and the run-name grammar.

A *run* is a (model, guidance, prompt set) tuple named ``{model}_cfg{guidance}_{prompt}`` (e.g.
``sd_cfg2_incap``: the paper's names, where CFG is the classifier-free guidance scale); the
real-data baseline is the run ``real``. A CLIP run is an arm of a caption dataset. Runs are built
from the configuration in ``synscale.config.runs``; this module only names and parses them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PROMPT_SETS = (
    "classname", "classname_desc", "classname_hyper", "classname_desc_places",
    "classname_hyper_places", "word2sen", "clip7", "clip80", "incap",
)
# prompt sets each data source can build without a model path (word2sen needs prompts.word2sen.path
# everywhere; incap on real data needs prompts.captioner.path)
SUPPORTED_PROMPTS = {
    "embedded_mnist": tuple(p for p in PROMPT_SETS if p != "word2sen"),
    "webdataset": tuple(p for p in PROMPT_SETS if p not in ("word2sen", "incap")),
}
# model families with a loader (synscale/t2i.py); the schema's enum lists the same
FAMILIES = ("latent_diffusion", "pixel_cascade", "masked_token", "diffusers")
# the config keys naming each family's local pipeline directories, in pipeline order
MODEL_PATH_KEYS = {"latent_diffusion": ("path",), "pixel_cascade": ("path", "sr_path"), "masked_token": ("path",),
                   "diffusers": ("path", "refiner_path")}
# families whose tiny analog the workflow can train (path: null on the embedded default)
TRAINABLE_FAMILIES = ("latent_diffusion", "pixel_cascade", "masked_token")
REAL = "real"
NAME_RE = re.compile(
    r"^(?P<model>[a-z][a-z0-9]*)_cfg(?P<guidance>[0-9]+(?:\.[0-9]+)?)_(?P<prompt>[a-z][a-z0-9_]*)"
    r"(?:-(?P<tag>[a-z][a-z0-9]*))?$")
# a run: real data or a generator config, with an optional '-<tag>' naming its own classifier
WILDCARD_RE = r"(?:real|[a-z][a-z0-9]*_cfg[0-9]+(?:\.[0-9]+)?_[a-z][a-z0-9_]*)(?:-[a-z][a-z0-9]*)?"
# shards, caption chunks and CLIP blocks are named with five digits (shard-00000 .. shard-99999): a run,
# a caption dataset or a captioning pass holds at most this many
MAX_INDEX = 100_000
# the largest data scale a configuration may name (ten billion images: above any public image set)
MAX_SCALE = 10_000_000_000
# out-of-distribution class subsets timm ships (label indices into ImageNet-1k)
TIMM_SUBSETS = {"timm:imagenet_a": "imagenet_a_indices.txt", "timm:imagenet_r": "imagenet_r_indices.txt"}


class ConfigError(ValueError):
    """A configuration problem, with the offending key in the message."""


def fmt_guidance(guidance: float) -> str:
    return f"{float(guidance):g}"


def exact_guidance(guidance: float) -> bool:
    """Whether a run name writes ``guidance`` exactly (a plain decimal of at most 6 significant
    digits): the name is parsed back into the guidance the twins of a CLIP run are sampled at."""
    text = fmt_guidance(guidance)
    return re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text) is not None and float(text) == float(guidance)


def run_name(model: str, guidance: float | None = None, prompt: str | None = None, tag: str | None = None) -> str:
    base = REAL if model == REAL else f"{model}_cfg{fmt_guidance(guidance)}_{prompt}"
    return f"{base}-{tag}" if tag else base


def data_name(name: str) -> str:
    """The images a run trains on: its name without the classifier tag (runs that differ only in
    their classifier share their shards)."""
    return name.split("-", 1)[0]


@dataclass(frozen=True)
class Run:
    name: str
    model: str
    guidance: float | None
    prompt: str | None
    scales: tuple[int, ...]
    fit_range: tuple[int, int] | None
    classifier: dict | None = None  # runs[].classifier: this run's own classifier
    default_target: bool = True
    seed_of: str | None = None      # a seed variant: the run whose fit it enters
    seed_runs: tuple[str, ...] = ()  # a run's seed variants (runs[].seeds beyond the first)

    @property
    def is_real(self) -> bool:
        return self.model == REAL

    @property
    def data(self) -> str:
        return data_name(self.name)


def parse_name(name: str) -> tuple[str, float | None, str | None]:
    """(model, guidance, prompt) of a run name (a classifier tag is dropped)."""
    name = data_name(name)
    if name == REAL:
        return REAL, None, None
    m = NAME_RE.match(name)
    if not m:
        raise ConfigError(f"{name!r} is not a run name of the form <model>_cfg<guidance>_<prompt> or 'real'")
    return m["model"], float(m["guidance"]), m["prompt"]


# --------------------------------------------------------------------------- the CLIP study

CLIP_ARM_TAGS = {"real": "real", "syn": "syn", "syn+real": "synreal"}
CLIP_RUN_RE = r"(?:real_[a-z][a-z0-9]*|(?:syn|synreal)_[a-z][a-z0-9]*_cfg[0-9]+(?:\.[0-9]+)?_[a-z][a-z0-9]*)"


@dataclass(frozen=True)
class ClipRun:
    """CLIP trained on one arm of a caption dataset: ``real_{dataset}``, or ``syn_{twins}`` /
    ``synreal_{twins}`` with ``twins`` the data name of the synthetic twins (model_cfgG_dataset)."""
    name: str
    arm: str
    dataset: str
    twins: str | None
    scales: tuple[int, ...]


def clip_twins_name(model: str, guidance: float, dataset: str) -> str:
    return run_name(model, guidance, dataset)


