"""Text embeddings of a generation job computed once per prompt, not once per image.

A shard of the ``classname`` prompt set asks for 1,300 images of each class with one prompt per
class; diffusers pipelines run their text encoders (two CLIPs and a T5-XXL for SD3, a T5-XXL for
FLUX and PixArt) on every prompt of every batch. ``PromptEmbeddings`` encodes each distinct prompt
of the job once and hands the pipeline ``prompt_embeds`` (and the pooled / negative / mask tensors
its class takes) instead of the prompt.

Which prompts are encoded together is a function of the job's prompt list alone, so the images do not
depend on how a job's batches are split over processes: prompt ``p`` is encoded in the group of the
prompts whose first batch is ``p``'s first batch. A prompt set of distinct captions (one per image)
is thus encoded batch by batch, exactly as the pipeline would; a repeating one, once per distinct
prompt. An embedding is dropped after the last batch that uses it.

Kept in the package rather than left to diffusers: the pipelines' ``encode_prompt`` has one signature
per class and no cache across calls; the per-class table below maps each onto the call arguments.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch

# per pipeline class: what encode_prompt returns (positionally), as the pipeline's call arguments;
# None: an element the call does not take
_RETURNS = {
    "StableDiffusionPipeline": ("prompt_embeds", "negative_prompt_embeds"),
    "LatentConsistencyModelPipeline": ("prompt_embeds", None),
    "StableDiffusionXLPipeline": ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                                  "negative_pooled_prompt_embeds"),
    "StableDiffusionXLImg2ImgPipeline": ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                                         "negative_pooled_prompt_embeds"),
    "StableDiffusion3Pipeline": ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                                 "negative_pooled_prompt_embeds"),
    "PixArtAlphaPipeline": ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds",
                            "negative_prompt_attention_mask"),
    "PixArtSigmaPipeline": ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds",
                            "negative_prompt_attention_mask"),
    "FluxPipeline": ("prompt_embeds", "pooled_prompt_embeds", None),
}

# call arguments that must accompany the embeddings: PixArt's call defaults negative_prompt to "" and
# refuses it beside negative_prompt_embeds
_WITH = {"PixArtAlphaPipeline": {"negative_prompt": None}, "PixArtSigmaPipeline": {"negative_prompt": None}}


def supported(pipe) -> bool:
    return type(pipe).__name__ in _RETURNS


def _call_default(pipe, name: str):
    p = inspect.signature(type(pipe).__call__).parameters.get(name)
    return None if p is None else p.default


def encode(pipe, prompts: list[str]) -> dict[str, torch.Tensor]:
    """The call arguments that stand for ``prompts`` (one row per prompt) in a call of ``pipe``,
    computed as the pipeline's own ``__call__`` computes them (negatives for the empty negative prompt,
    the call's default sequence length)."""
    cls = type(pipe).__name__
    dev = pipe._execution_device
    if cls in ("StableDiffusionPipeline", "LatentConsistencyModelPipeline"):
        out = pipe.encode_prompt(prompts, dev, 1, cls == "StableDiffusionPipeline")
    elif cls.startswith("StableDiffusionXL"):
        out = pipe.encode_prompt(prompts, device=dev, num_images_per_prompt=1, do_classifier_free_guidance=True)
    elif cls == "StableDiffusion3Pipeline":
        out = pipe.encode_prompt(prompts, None, None, device=dev, num_images_per_prompt=1,
                                 do_classifier_free_guidance=True,
                                 max_sequence_length=_call_default(pipe, "max_sequence_length"))
    elif cls.startswith("PixArt"):
        out = pipe.encode_prompt(prompts, do_classifier_free_guidance=True, negative_prompt="",
                                 num_images_per_prompt=1, device=dev, clean_caption=False,
                                 max_sequence_length=_call_default(pipe, "max_sequence_length"))
    elif cls == "FluxPipeline":
        out = pipe.encode_prompt(prompts, None, device=dev, num_images_per_prompt=1,
                                 max_sequence_length=_call_default(pipe, "max_sequence_length"))
    else:
        raise ValueError(f"no prompt-embedding cache for a {cls}")
    return {k: v for k, v in zip(_RETURNS[cls], out) if k is not None and v is not None}


class PromptEmbeddings:
    """The text embeddings of one job's prompts for one pipeline (see the module's docstring).
    ``plan(prompts, batch_size)`` once, then ``arguments(batch_index, batch_prompts)`` per batch."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.groups: dict[int, list[str]] = {}
        self.cache: dict[str, dict[str, torch.Tensor]] = {}
        self.encoded = 0          # prompts this process encoded
        self.encoder_calls = 0    # encode_prompt calls this process made

    def plan(self, prompts: Sequence[str], batch_size: int) -> None:
        self.first, self.last, self.groups, self.cache = {}, {}, {}, {}
        self.encoded = self.encoder_calls = 0     # the record describes one job
        for i, p in enumerate(prompts):
            b = i // batch_size
            if p not in self.first:
                self.first[p] = b
                self.groups.setdefault(b, []).append(p)
            self.last[p] = b

    def record(self) -> dict:
        """The job's plan (the same on every process) and this process's work."""
        return {"cached": True, "prompts_distinct": len(self.first), "encoder_groups": len(self.groups),
                "encoded_here": self.encoded, "encoder_calls_here": self.encoder_calls}

    def _ensure(self, p: str, batch_index: int) -> None:
        if p in self.cache:
            return
        group = self.groups[self.first[p]]
        with torch.no_grad():
            rows = encode(self.pipe, group)
        self.encoded += len(group)
        self.encoder_calls += 1
        for i, q in enumerate(group):   # kept for this and later batches only
            if q not in self.cache and self.last[q] >= batch_index:
                self.cache[q] = {k: v[i:i + 1] for k, v in rows.items()}

    def arguments(self, batch_index: int, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        """The embedding arguments of one batch (rows in the batch's order); drops the embeddings no
        later batch uses."""
        unknown = [p for p in prompts if p not in self.first]
        if unknown:
            raise ValueError(f"prompt {unknown[0]!r} is not among the planned prompts of this job")
        for p in dict.fromkeys(prompts):
            self._ensure(p, batch_index)
        args = {k: torch.cat([self.cache[p][k] for p in prompts]) for k in self.cache[prompts[0]]}
        args.update(_WITH.get(type(self.pipe).__name__, {}))
        for p in dict.fromkeys(prompts):
            if self.last[p] <= batch_index:
                del self.cache[p]
        return args
