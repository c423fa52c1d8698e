"""CLIP trained on image-text data (the paper's section 6): the real images of a caption dataset,
their synthetic twins (one image generated from each caption), or both, and its zero-shot
evaluation.

* Models, the contrastive loss, the zero-shot classifier and the learning-rate schedule are
  open_clip's (``open_clip.create_model``, ``ClipLoss``, ``build_zero_shot_classifier``,
  ``open_clip_train.scheduler.cosine_lr``); a model the config describes itself (the embedded
  default's tiny CLIP) is registered as a custom open_clip model config.
* Data: a caption dataset is read in *blocks* (``shards_per_block`` source shards; the twins of a
  block are one generated shard holding, in the same order and under the same keys, one image per
  caption). A scale of N captions is the first N captions of the block sequence, so scales nest.
* Arms: ``real`` (the source image), ``syn`` (the twin), ``syn+real`` (per caption and epoch one of
  the two, drawn from a stream seeded by (seed, epoch, block): a re-run sees the same choices).
* Recipes: Table A3's S and L, picked by scale (``recipes``: the last whose ``from_scale`` is at
  most the scale), 32 epochs at every scale.
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from synscale.config.recipes import ClipRecipe as Recipe  # noqa: F401  (torch-free, for the workflow's parse)
from synscale.data.loader import ShardStream, seed_augmentation
from synscale.data.shards import _corrupt, decode_pil, image_member, iter_samples
from synscale.seeds import seed_for

log = logging.getLogger(__name__)

ARMS = ("real", "syn", "syn+real")
TEMPLATE_SETS = ("openai_imagenet", "simple_imagenet")


# --------------------------------------------------------------------------- models


def register_model(name: str, model_cfg: dict) -> None:
    """Make ``name`` an open_clip model with config ``model_cfg`` (embed_dim, vision_cfg, text_cfg),
    the way open_clip registers its own JSON model configs."""
    import open_clip

    if open_clip.get_model_config(name) == model_cfg:
        return
    d = Path(tempfile.gettempdir()) / f"synscale-open-clip-{os.getuid()}-{os.getpid()}"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.json").write_text(json.dumps(model_cfg))
    open_clip.add_model_config(d / f"{name}.json")


def build_model(spec: dict, seed: int | None = None):
    """(model, tokenizer) of ``clip.model``: an open_clip model name (``ViT-B-16``) or, with
    ``config``, a custom one; random weights (seeded), never downloaded."""
    import open_clip

    name = spec["name"]
    if spec.get("config"):
        register_model(name, spec["config"])
    elif open_clip.get_model_config(name) is None:
        raise ValueError(f"config key 'clip.model.name' = {name!r}: not an open_clip model "
                         "(open_clip.list_models()); or describe one under clip.model.config")
    if seed is not None:
        torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None, output_dict=True)
    return model, open_clip.get_tokenizer(name)


def transforms(model, train: bool):
    """open_clip's image transform for the model's input size (train: its RandomResizedCrop)."""
    import open_clip

    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    return open_clip.image_transform(size, is_train=train)


# --------------------------------------------------------------------------- data


def synreal_choice(seed: int, epoch: int, block: int, n: int, part: int = 0) -> np.ndarray:
    """For the ``n`` captions of part ``part`` (a source shard) of ``block`` in ``epoch``: True
    where syn+real takes the synthetic image, False where it takes the real one (fair coin flips
    from a stream seeded by (seed, epoch, block, part))."""
    rng = np.random.default_rng(seed_for(seed, "syn+real", epoch, block, part))
    return rng.random(n) < 0.5


def iter_text_samples(paths: Sequence[str | Path], start: int = 0) -> Iterator[tuple[str, bytes, str]]:
    """(key, image bytes, caption) of image-text shards in order (open_clip's --train-data layout:
    an image member and a ``txt`` member per sample; a ``cls`` member is not needed); the first
    shard from byte offset ``start`` on."""
    for i, path in enumerate(paths):
        for key, d in iter_samples(path, start=start if i == 0 else 0):
            img = image_member(d)
            txt = d.get("txt")
            if img is None or txt is None:
                raise _corrupt(Path(path), f"sample {key!r} lacks an image or a .txt member (an image-text "
                               "shard holds both, as open_clip's --train-data reads)")
            yield key, img, txt.decode("utf-8")


@dataclass(frozen=True)
class BlockPart:
    """The first ``take`` of the ``count`` captions of part ``part`` (a source shard) of block
    ``block``: the source shard (``real``) and the block's twin shard (``syn``, the part's twins
    from byte ``syn_offset`` on), as the arm needs them. A training process reads whole parts, so
    a block of many source shards spreads over many processes, each reading its own."""
    block: int
    count: int
    real: tuple[str, ...] = ()
    syn: str | None = None
    take: int | None = None
    part: int = 0
    syn_offset: int = 0


def block_parts(blocks: Sequence[Sequence[tuple[str, int]]], scale: int, real: bool,
                syn: Sequence[str] | None = None, syn_offsets: Sequence[Sequence[int]] | None = None
                ) -> list[BlockPart]:
    """The parts holding the first ``scale`` captions: ``blocks`` lists, per block in order, its
    source shards with their caption counts; ``syn`` the blocks' twin shards and ``syn_offsets``
    where each source shard's twins start in them. Fewer captions if the blocks hold fewer (the
    caller reports it)."""
    out, left = [], scale
    for b, sources in enumerate(blocks):
        for j, (src, c) in enumerate(sources):
            if left <= 0:
                return out
            out.append(BlockPart(b, int(c), (str(src),) if real else (), syn[b] if syn else None, min(int(c), left),
                                 j, int(syn_offsets[b][j]) if syn else 0))
            left -= c
    return out


def pair_items(part: BlockPart, arm: str, seed: int, epoch: int) -> Iterator[tuple[str, bytes, str]]:
    """(key, image bytes, caption) of a block for an arm; syn+real reads the source and the twin in
    step and checks that they hold the same caption under the same key."""
    if arm not in ARMS:
        raise ValueError(f"arm {arm!r}: one of {ARMS}")
    take = part.count if part.take is None else part.take
    real = iter_text_samples(part.real) if arm != "syn" else None
    syn = iter_text_samples([part.syn], start=part.syn_offset) if arm != "real" else None
    pick = synreal_choice(seed, epoch, part.block, part.count, part.part) if arm == "syn+real" else None
    for i in range(take):
        try:
            r = next(real) if real is not None else None
            s = next(syn) if syn is not None else None
        except StopIteration:
            where = part.syn if syn is not None and real is None else (part.real or (part.syn,))[0]
            raise ValueError(f"block {part.block} ({where}): holds {i} captions, fewer than the {take} its "
                             "manifest records; rebuild the block's caption table and twin shard") from None
        if r is not None and s is not None and (r[0] != s[0] or r[2] != s[2]):
            raise ValueError(f"block {part.block}: twin shard {part.syn} sample {i} is {s[0]!r} ({s[2][:40]!r}) "
                             f"where the source has {r[0]!r} ({r[2][:40]!r}); rebuild the twin shard "
                             f"(snakemake --forcerun {part.syn})")
        if pick is not None:
            yield s if pick[i] else r
        else:
            yield r if r is not None else s


class PairStream(ShardStream):
    """Batches ``(images, tokens)`` of an arm over its blocks, through ``synscale.loader``'s slots,
    shuffle buffer and resume (``start_batch``); the epoch number reaches the syn+real draw."""

    def __init__(self, parts: Sequence[BlockPart], arm: str, batch_size: int, transform: Callable,
                 tokenizer: Callable, train: bool = False, seed: int = 0, rank: int = 0, world: int = 1,
                 start_batch: int = 0, shuffle_buffer: int = 1000):
        super().__init__(parts, batch_size, None, 3, transform, train, seed, rank, world, start_batch,
                         shuffle_buffer)
        self.arm, self.tokenizer = arm, tokenizer

    def _read(self, part: BlockPart):
        return pair_items(part, self.arm, self.seed, getattr(self, "epoch", 0))

    def _batch(self, items: Iterator, n: int, aug_base: int | None, first: int):
        if aug_base is not None:
            seed_augmentation(aug_base, first)
        xs, texts = [], []
        for key, img, text in items:
            xs.append(self.transform(decode_pil(img, "shard", key, None, 3)))
            texts.append(text)
            if len(texts) == n:
                break
        if not texts:
            return None
        return torch.stack(xs), self.tokenizer(texts)


def make_pair_loader(parts, arm, batch_size, transform, tokenizer, train=False, seed=0, rank=0, world=1,
                     start_batch=0, workers=0, shuffle_buffer=1000, pin_memory=False):
    from synscale.data.loader import stream_loader

    ds = PairStream(parts, arm, batch_size, transform, tokenizer, train, seed, rank, world, start_batch,
                    shuffle_buffer)
    return stream_loader(ds, workers, pin_memory)


# --------------------------------------------------------------------------- training


def optimizer(model: torch.nn.Module, r: Recipe) -> torch.optim.Optimizer:
    """AdamW without weight decay on gains, biases and the temperature (open_clip's split)."""
    def exclude(n, p):
        return p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in named if exclude(n, p)], "weight_decay": 0.0},
              {"params": [p for n, p in named if not exclude(n, p)], "weight_decay": r.weight_decay}]
    return torch.optim.AdamW(groups, lr=r.lr, betas=r.betas, eps=r.eps)


def resume_identity(r: Recipe, seed: int) -> dict:
    return {"steps": r.steps, "batch": r.batch_size, "world": r.world, "seed": seed}


def train_loop(model: torch.nn.Module, batches: Iterable, r: Recipe, seed: int,
               amp_dtype: torch.dtype = torch.float32, resume_path: str | os.PathLike | None = None,
               checkpoint_every: int = 0, progress: Callable[[int, float], None] | None = None,
               rank: int = 0, world_size: int = 1) -> dict:
    """Contrastive training for ``r.steps`` steps of one micro-batch per process (features are
    gathered across processes by ClipLoss, so the contrastive batch is the global one). Rank 0
    writes a resume checkpoint every ``checkpoint_every`` steps; ``batches`` must start at the
    resume point. With a ``resume_path``, SIGUSR1 or SIGTERM ends the loop after the current step
    with that checkpoint written (exit status 75, ``synscale.train.preempt``), and the loss and
    learning rate go to ``<output>.loss.csv`` as training goes (``synscale.train.losslog``)."""
    import open_clip
    from open_clip_train.scheduler import cosine_lr

    from synscale.device import autocast
    from synscale.train.losslog import open_log
    from synscale.train.preempt import agreed, checkpoint_and_exit, stop_on_signals
    from synscale.train.resume import distributed, restore, save_resume

    device = next(model.parameters()).device
    opt = optimizer(model, r)
    adjust = cosine_lr(opt, r.lr, r.warmup, r.steps)
    loss_fn = open_clip.ClipLoss(local_loss=world_size > 1, gather_with_grad=world_size > 1, cache_labels=True,
                                 rank=rank, world_size=world_size)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp_dtype == torch.float16)
    identity = resume_identity(r, seed)
    parts = {"model": model, "opt": opt, "scaler": scaler}
    start = restore(resume_path, identity, parts, r.steps)
    net = distributed(model, world_size)
    model.train()
    losses, t0, seen = [], time.time(), 0
    with stop_on_signals(bool(resume_path)) as flag, open_log(resume_path, start, r.steps, rank) as curve:
        it = iter(batches)  # after the handlers: loader workers started now inherit them
        for step in range(start, r.steps):
            lr = adjust(step)
            x, tokens = next(it)
            x, tokens = x.to(device, non_blocking=True), tokens.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            with autocast(device, amp_dtype):
                out = net(x, tokens)
                loss = loss_fn(out["image_features"], out["text_features"], out["logit_scale"])
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            with torch.no_grad():  # open_clip clamps the temperature at 100
                model.logit_scale.clamp_(0, math.log(100))
            losses.append(float(loss.detach()))
            seen += len(x)
            if progress:
                progress(step, losses[-1])
            done = step + 1
            curve(done, losses[-1], lr)
            if done == r.steps or not resume_path:
                continue
            if agreed(flag, world_size, device):
                checkpoint_and_exit(flag, done, r.steps, lambda: save_resume(resume_path, done, identity, parts),
                                    resume_path, rank, world_size)
            if rank == 0 and checkpoint_every and done % checkpoint_every == 0:
                save_resume(resume_path, done, identity, parts)
    model.eval()
    secs = time.time() - t0
    return {"steps": r.steps, "resumed_from": start, "processes": world_size,
            "final_train_loss": float(np.mean(losses[-50:])) if losses else None,
            "temperature": float(model.logit_scale.detach().exp()), "train_seconds": round(secs, 2),
            "images_per_second": round(seen * world_size / max(secs, 1e-9), 1)}


# --------------------------------------------------------------------------- zero-shot


def templates(which) -> list[str]:
    """Prompt templates: open_clip's 80 OpenAI ImageNet templates, its 7 simple ones, or a list of
    strings with ``{}`` where the class name goes."""
    import open_clip

    if which == "openai_imagenet":
        return [t("{}") for t in open_clip.OPENAI_IMAGENET_TEMPLATES]
    if which == "simple_imagenet":
        return [t("{}") for t in open_clip.SIMPLE_IMAGENET_TEMPLATES]
    if isinstance(which, list) and which and all(isinstance(t, str) and "{}" in t for t in which):
        return list(which)
    raise ValueError(f"config key 'clip.zero_shot.templates' = {which!r}: one of {TEMPLATE_SETS} or a list of "
                     "strings holding '{}'")


@torch.no_grad()
def class_weights(model, tokenizer, classnames: Sequence[str], temps: Sequence[str],
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """D x C zero-shot weights: per class, the normalised text features of every template filled
    with its name, averaged and normalised again (open_clip's ``build_zero_shot_classifier``)."""
    import open_clip

    return open_clip.build_zero_shot_classifier(model, tokenizer, list(classnames), list(temps),
                                                num_classes_per_batch=10, device=device).float()


def zero_shot_scores(image_features: torch.Tensor, weights: torch.Tensor, tau: float, labels: torch.Tensor,
                     class_subset: Sequence[int] | None = None) -> dict:
    """Top-1 and the zero-shot loss -log softmax(tau * cos(z_img, z_c))[label] (B.3), overall and
    per class, with ``tau`` the model's learned temperature exp(logit_scale). Features are
    normalised here; ``class_subset`` restricts the softmax to those classes."""
    z = torch.nn.functional.normalize(image_features.float(), dim=-1)
    w = torch.nn.functional.normalize(weights.float(), dim=0)
    logits = tau * z @ w
    if class_subset is not None:
        mask = torch.full((w.shape[1],), float("-inf"))
        mask[list(class_subset)] = 0.0
        logits = logits + mask
    logp = torch.log_softmax(logits, dim=1)
    y = labels.long()
    nll = -logp[torch.arange(len(y)), y]
    hit = (logits.argmax(1) == y).float()
    per_loss, per_top1 = {}, {}
    for c in torch.unique(y).tolist():
        m = y == c
        per_loss[str(c)] = float(nll[m].mean())
        per_top1[str(c)] = float(hit[m].mean())
    return {"loss": float(nll.mean()), "top1": float(hit.mean()), "n": int(len(y)), "tau": float(tau),
            "per_class_loss": per_loss, "per_class_top1": per_top1}


@torch.no_grad()
def image_features(model, batches, amp_dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Image features and labels over a loader's ``(x, y)`` batches."""
    from synscale.device import autocast

    device = next(model.parameters()).device
    fs, ys = [], []
    for x, y in batches:
        with autocast(device, amp_dtype):
            fs.append(model.encode_image(x.to(device)).float().cpu())
        ys.append(torch.as_tensor(y))
    return torch.cat(fs), torch.cat(ys)
