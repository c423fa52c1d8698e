"""Captioners of real training images, for the ``incap`` prompt set ('classname, caption').

* ``image_stats``: the embedded default's captioner (synscale/captions.py), derived from the images
  themselves; its vocabulary is balanced over the whole population captioned, so it captions a
  whole split at once.
* BLIP-2 (the paper's captioner) from a local ``save_pretrained`` directory through transformers.
  Captioning is greedy, hence a pure function of (model, image); it runs per shard of real images
  (``caption_shard``), so the job spreads over as many GPUs as there are shards, and the result
  is cached as one parquet per shard (columns ``key``, ``class_index``, ``caption``).
"""
from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from synscale.prompts.word2sen import ModelPathError, check_model_dir, describe_model, normalise, resolve_device

log = logging.getLogger("synscale.captioners")

IMAGE_STATS = "image_stats"
CAPTION_COLUMNS = ["key", "class_index", "caption"]
KEY = "prompts.captioner.path"


class ImageStatsCaptioner:
    name = IMAGE_STATS

    def caption(self, images: np.ndarray, progress: Callable[[int], None] | None = None) -> list[str]:
        from synscale.prompts.statistics_captioner import caption_images

        out = caption_images(np.asarray(images))
        if progress:
            progress(len(out))
        return out

    def describe(self) -> dict:
        return {"name": IMAGE_STATS, "label": "image statistics of the digit (stroke thickness, slant, size, "
                "position); the embedded default's stand-in for BLIP-2"}


class Blip2Captioner:
    """BLIP-2 (Blip2ForConditionalGeneration + its processor) from a local directory."""

    name = "blip2"

    def __init__(self, path: str | Path, device: str = "auto", dtype: str = "float32", batch_size: int = 32,
                 max_new_tokens: int = 30, prompt: str | None = None, key: str = KEY):
        import torch
        from transformers import AutoProcessor, Blip2ForConditionalGeneration

        p = check_model_dir(path, key, "BLIP-2 captioner")
        cfg = json.loads((p / "config.json").read_text())
        if cfg.get("model_type") != "blip-2":
            raise ModelPathError(f"config key '{key}' = {str(path)!r}: model_type is {cfg.get('model_type')!r}, "
                                 "expected 'blip-2' (a Blip2ForConditionalGeneration save_pretrained directory)")
        self.path, self.device = p, resolve_device(device)
        self.dtype = getattr(torch, dtype)
        self.batch_size, self.max_new_tokens, self.prompt = int(batch_size), int(max_new_tokens), prompt
        try:
            self.processor = AutoProcessor.from_pretrained(str(p), local_files_only=True)
            self.model = Blip2ForConditionalGeneration.from_pretrained(str(p), local_files_only=True,
                                                                       dtype=self.dtype)
        except (OSError, ValueError) as e:
            raise ModelPathError(f"config key '{key}' = {str(path)!r}: BLIP-2 model or processor does not load "
                                 f"({e})") from None
        self.model.to(self.device).eval()

    def _batch(self, images: Sequence) -> list[str]:
        import torch

        kw = {"images": list(images), "return_tensors": "pt"}
        if self.prompt:
            kw["text"] = [self.prompt] * len(images)
        inputs = self.processor(**kw)
        inputs = {k: (v.to(self.device, self.dtype) if k == "pixel_values" else v.to(self.device))
                  for k, v in inputs.items()}
        with torch.no_grad():
            ids = self.model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=self.max_new_tokens)
        texts = self.processor.batch_decode(ids, skip_special_tokens=True)
        if self.prompt:
            texts = [t[len(self.prompt):] if t.startswith(self.prompt) else t for t in texts]
        return [normalise(t) for t in texts]

    def caption(self, images: Iterable, progress: Callable[[int], None] | None = None) -> list[str]:
        """Captions of PIL images or uint8 arrays (H x W, H x W x 1 or H x W x 3), in order."""
        out: list[str] = []
        batch: list = []
        for im in images:
            batch.append(to_pil_rgb(im))
            if len(batch) == self.batch_size:
                out += self._batch(batch)
                batch = []
                if progress:
                    progress(len(out))
        if batch:
            out += self._batch(batch)
            if progress:
                progress(len(out))
        return out

    def describe(self) -> dict:
        return {"name": self.name, **describe_model(self.path, self.model), "device": self.device,
                "dtype": str(self.dtype).replace("torch.", ""), "max_new_tokens": self.max_new_tokens,
                "prompt": self.prompt}


def to_pil_rgb(im):
    from PIL import Image

    if isinstance(im, Image.Image):
        return im.convert("RGB")
    a = np.asarray(im)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    return Image.fromarray(a.astype(np.uint8)).convert("RGB")


def options(cfg: dict) -> dict:
    """The prompts.captioner section (defaults filled by validation)."""
    return cfg["prompts"]["captioner"]


def load_captioner(cfg: dict):
    """The configured captioner: BLIP-2 from prompts.captioner.path, else image_stats (embedded only)."""
    opt = options(cfg)
    if opt["path"]:
        return Blip2Captioner(opt["path"], opt["device"], opt["dtype"], opt["batch_size"], opt["max_new_tokens"],
                              opt["prompt"])
    if cfg["data"]["source"] != "embedded_mnist":
        raise ModelPathError(f"config key '{KEY}' is not set: prompt set 'incap' captions real ImageNet "
                             "training images with BLIP-2; point it at a local Blip2ForConditionalGeneration "
                             "save_pretrained directory (synscale never downloads weights at run time)")
    return ImageStatsCaptioner()


def read_shard_images(path: str | Path) -> tuple[list[str], list, np.ndarray]:
    """(keys, PIL RGB images at their stored size, labels) of one webdataset shard."""
    from PIL import Image

    from synscale.data.shards import _corrupt, iter_shard

    keys, images, labels = [], [], []
    for key, data, label, _ in iter_shard(path):
        try:
            im = Image.open(io.BytesIO(data))
            im.load()
        except Exception as e:  # PIL raises many types
            raise _corrupt(Path(path), f"sample {key!r}: image does not decode ({e})") from None
        keys.append(key)
        images.append(im.convert("RGB"))
        labels.append(label)
    return keys, images, np.asarray(labels, dtype=np.int64)


def caption_shard(cfg: dict, shard: str | Path, out_parquet: str | Path, out_json: str | Path | None = None,
                  captioner=None) -> dict:
    """Caption every image of one real training shard with the configured model captioner and
    write ``out_parquet`` (key, class_index, caption) and a JSON summary with provenance."""
    import pandas as pd

    from synscale.io import atomic_path, write_json
    from synscale.logs import Progress
    from synscale.provenance import provenance

    t0 = time.time()
    if captioner is None:
        if not options(cfg)["path"]:
            raise ModelPathError(f"config key '{KEY}' is not set: per-shard captioning needs a BLIP-2 model "
                                 "directory (the embedded image_stats captioner captions the whole split at once)")
        captioner = load_captioner(cfg)
    keys, images, labels = read_shard_images(shard)
    p = Progress(f"captions {Path(shard).name}", len(images))
    caps = captioner.caption(images, progress=p)
    df = pd.DataFrame({"key": keys, "class_index": labels.astype("int64"), "caption": caps},
                      columns=CAPTION_COLUMNS)
    with atomic_path(out_parquet) as tmp:
        df.to_parquet(tmp, index=False)
    info = {"shard": str(shard), "n": len(df), "empty_captions": int((df["caption"] == "").sum()),
            "distinct_captions": int(df["caption"].nunique()), "examples": df["caption"].head(5).tolist(),
            "captioner": captioner.describe(),
            "provenance": provenance(cfg, wall_time_s=time.time() - t0, captioner=captioner.describe())}
    if out_json:
        write_json(out_json, info)
    log.info("captioned %d images of %s in %.1fs", len(df), shard, time.time() - t0)
    return info


def read_caption_tables(paths: Sequence[str | Path]):
    """The per-shard caption tables, concatenated in the given order."""
    import pandas as pd

    parts = []
    for p in paths:
        try:
            df = pd.read_parquet(p)
        except Exception as e:
            raise ValueError(f"{p}: unreadable caption table ({e}); delete it and re-run snakemake") from None
        missing = [c for c in CAPTION_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{p}: caption table lacks columns {missing}; delete it and re-run snakemake")
        parts.append(df[CAPTION_COLUMNS])
    if not parts:
        raise ValueError("no caption tables given")
    return pd.concat(parts, ignore_index=True)
