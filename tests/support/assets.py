"""Offline test assets: a miniature "paper-shaped" set of external inputs.

What a cluster user running the paper's configuration brings along -- ImageNet as webdataset
shards, out-of-distribution test sets (one covering every class, one covering a subset of the
classes like ImageNet-A), and local model weights (Stable Diffusion 1.5, a concept-to-sentence T5,
BLIP-2, a pretrained reference classifier) -- written small, randomly initialised where a model is
involved, and without any network access, so that the workflow can run on it in CI.

Everything here is deterministic: the same arguments write the same files.
"""
from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synscale.data.embedded import DIGIT_NAMES, frame_like_mnist, load_mnist_embedded, load_sklearn_digits, resize
from synscale.prompts.word2sen import MODEL_NOTE
from synscale.t2i.masked_token import (
    CLIP_MAX_LENGTH,
    CLIP_VOCAB_SIZE,
    clip_tokenizer,
    write_clip_vocab_files,
)

SHARD_MTIME = 0          # tar member mtime: shards are a pure function of their samples
OOD_SUBSET_CLASSES = (1, 3)

_BASIC_WORDS = ("a an the of in on at with and near by is are was photo picture image sits stands "
                "swimming lying flying close-up small large water grass street table room sky field "
                "distance background . ,")


# --------------------------------------------------------------------------- webdataset shards


def encode_image(image: np.ndarray, ext: str = "png") -> bytes:
    """PNG (lossless) or JPEG (quality 95) bytes of a uint8 RGB image, encoded with PIL."""
    from PIL import Image

    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    buf = io.BytesIO()
    if ext == "png":
        img.save(buf, format="PNG", optimize=False, compress_level=6)
    elif ext == "jpg":
        img.save(buf, format="JPEG", quality=95)
    else:
        raise ValueError(f"ext must be 'png' or 'jpg', got {ext!r}")
    return buf.getvalue()


def write_wds_split(out_dir: str | Path, prefix: str, images: np.ndarray, labels: Sequence[int], shard_size: int,
                    ext: str = "png") -> list[Path]:
    """Write RGB uint8 ``images`` (N x H x W x 3) and integer ``labels`` as webdataset shards
    ``{prefix}-{i:06d}.tar`` of ``shard_size`` samples each (the last one may be shorter).

    Sample ``j`` has the key ``{prefix}-{j:07d}`` and the members ``<key>.png`` (or ``<key>.jpg``
    when ``ext="jpg"``) and ``<key>.cls`` (the label as an ASCII integer). The tars are written by
    ``webdataset.TarWriter`` with a fixed mtime, so the bytes depend only on the samples.
    Returns the shard paths in order.
    """
    import webdataset as wds

    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"images must be uint8 N x H x W x 3, got {images.dtype} {images.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if "." in prefix or "/" in prefix:
        raise ValueError(f"prefix {prefix!r} must not contain '.' or '/' (it is part of the sample keys)")
    if shard_size < 1:
        raise ValueError(f"shard_size must be positive, got {shard_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for s, lo in enumerate(range(0, len(images), shard_size)):
        p = out / f"{prefix}-{s:06d}.tar"
        with open(p, "wb") as fh, wds.TarWriter(fh, encoder=False, mtime=SHARD_MTIME) as tw:
            for j in range(lo, min(lo + shard_size, len(images))):
                tw.write({"__key__": f"{prefix}-{j:07d}", ext: encode_image(images[j], ext),
                          "cls": str(int(labels[j])).encode("ascii")})
        paths.append(p)
    return paths


def brace_pattern(paths: Sequence[Path]) -> str:
    """The brace pattern (``dir/prefix-{000000..000003}.tar``) of consecutively numbered shards."""
    first, last = Path(paths[0]), Path(paths[-1])
    m0 = re.fullmatch(r"(.*)-(\d+)\.tar", first.name)
    m1 = re.fullmatch(r"(.*)-(\d+)\.tar", last.name)
    if not (m0 and m1 and m0.group(1) == m1.group(1)):
        raise ValueError(f"{first} .. {last}: not one numbered shard set")
    return str(first.parent / f"{m0.group(1)}-{{{m0.group(2)}..{m1.group(2)}}}.tar")


def tint(grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grey uint8 images (N x H x W) as RGB: each image gets its own random foreground colour and a
    dark background colour, so the three channels differ."""
    n = len(grey)
    fg = rng.uniform(0.35, 1.0, size=(n, 1, 1, 3)) * 255.0
    bg = rng.uniform(0.0, 0.25, size=(n, 1, 1, 3)) * 255.0
    a = grey.astype(np.float64)[..., None] / 255.0
    return np.round(bg * (1.0 - a) + fg * a).clip(0, 255).astype(np.uint8)


def _round_robin(labels: np.ndarray) -> np.ndarray:
    """Indices interleaving the classes (class of position g is g % C while every class has samples left),
    keeping the order within each class."""
    per = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    return np.asarray([p[j] for j in range(max(map(len, per))) for p in per if j < len(p)], dtype=np.int64)


def _take_per_class(labels: np.ndarray, classes: Sequence[int], counts: Sequence[int],
                    rng: np.random.Generator) -> list[np.ndarray]:
    """For each count, disjoint random indices holding ``count`` samples of every class in ``classes``."""
    parts: list[list[np.ndarray]] = [[] for _ in counts]
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        if len(idx) < sum(counts):
            raise ValueError(f"class {c} has {len(idx)} samples, {sum(counts)} are needed")
        lo = 0
        for k, n in enumerate(counts):
            parts[k].append(idx[lo:lo + n])
            lo += n
    return [np.concatenate(p) for p in parts]


_COLOURS = ("red", "green", "blue", "yellow", "white", "orange")


def caption_dataset_assets(root: str | Path, n_classes: int = 4, size: int = 32, n: int = 240,
                           shard_size: int = 40) -> str:
    """A LAION-shaped image-text dataset under ``root``: ``n`` tinted MNIST digits of the classes
    0..n_classes-1 (disjoint from nothing: a caption set is not a labelled split), JPEG + caption
    only (no ``cls`` member, as img2dataset writes LAION), keys like img2dataset's
    ('000000017'), ``laion-{000000..}.tar`` of ``shard_size`` samples. Captions name the digit and
    its colour ('a photo of a red handwritten three'). Returns the brace pattern."""
    import webdataset as wds

    rng = np.random.default_rng(7)
    images, labels = load_mnist_embedded()
    idx = rng.permutation(np.flatnonzero(labels < n_classes))[:n]
    rgb = tint(resize(images[idx], size), rng)
    colours = rng.integers(0, len(_COLOURS), size=n)
    out = Path(root)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for s_, lo in enumerate(range(0, n, shard_size)):
        p = out / f"laion-{s_:06d}.tar"
        with open(p, "wb") as fh, wds.TarWriter(fh, encoder=False, mtime=SHARD_MTIME) as tw:
            for j in range(lo, min(lo + shard_size, n)):
                cap = f"a photo of a {_COLOURS[colours[j]]} handwritten {DIGIT_NAMES[labels[idx[j]]]}"
                tw.write({"__key__": f"{j:09d}", "jpg": encode_image(rgb[j], "jpg"), "txt": cap.encode("utf-8")})
        paths.append(p)
    return brace_pattern(paths)


# --------------------------------------------------------------------------- Stable Diffusion


def save_tiny_sd(out_dir: str | Path, seed: int = 0, image_size: int = 32) -> Path:
    """Save a tiny, randomly initialised ``StableDiffusionPipeline`` shaped like Stable Diffusion 1.5:
    a CLIP text encoder (tiny) with the real CLIP tokenizer, an ``AutoencoderKL`` (4 latent channels),
    a text-conditioned ``UNet2DConditionModel`` and SD 1.5's PNDM scheduler; no safety checker.

    It loads with ``StableDiffusionPipeline.from_pretrained(out_dir, local_files_only=True,
    safety_checker=None, requires_safety_checker=False)`` and generates ``image_size`` px RGB images
    (noise-like: it is untrained). A ``synscale_model.json`` note marks it as a test model.
    """
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = clip_tokenizer()
    text_cfg = CLIPTextConfig(vocab_size=CLIP_VOCAB_SIZE, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=CLIP_MAX_LENGTH,
                              hidden_act="quick_gelu", projection_dim=32, layer_norm_eps=1e-5,
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=1)
    vae_blocks = 2
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(text_cfg)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 64),
                        down_block_types=("DownEncoderBlock2D",) * vae_blocks,
                        up_block_types=("UpDecoderBlock2D",) * vae_blocks, layers_per_block=1,
                        norm_num_groups=32, sample_size=image_size)
    torch.manual_seed(seed + 2)
    unet = UNet2DConditionModel(sample_size=image_size // 2 ** (vae_blocks - 1), in_channels=4, out_channels=4,
                                block_out_channels=(32, 64), layers_per_block=1,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                                cross_attention_dim=32, attention_head_dim=(2, 4), norm_num_groups=32)
    scheduler = PNDMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                              beta_schedule="scaled_linear", skip_prk_steps=True, set_alpha_to_one=False,
                              steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(str(out))
    write_clip_vocab_files(out / "tokenizer")
    (out / MODEL_NOTE).write_text(json.dumps({
        "label": "tiny randomly initialised Stable Diffusion 1.5-shaped pipeline (test model; untrained, "
                 "its images are noise)", "test_model": True, "seed": seed, "image_size": image_size,
        "vocab_size": CLIP_VOCAB_SIZE}, indent=2) + "\n")
    return out


# --------------------------------------------------------------------------- classifiers and language models


def save_reference_state_dict(path: str | Path, arch: str, num_classes: int, in_chans: int = 3,
                              kwargs: dict | None = None, seed: int = 0) -> Path:
    """Save the ``state_dict`` of a randomly initialised ``timm.create_model(arch, ...)`` with
    ``torch.save``: a stand-in for a local copy of pretrained weights (a plain timm state dict)."""
    import timm
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=in_chans, **(kwargs or {}))
    torch.save(model.state_dict(), p)
    return p


def _word_vocab(specials: dict[str, int], words: Sequence[str]) -> dict[str, int]:
    vocab = dict(specials)
    for w in sorted({w for t in (*words, *_BASIC_WORDS.split()) for w in re.findall(r"[\w'-]+|[^\w\s]", t)}):
        vocab.setdefault(w, len(vocab))
    return vocab


def save_test_model(out: Path, model, processor, seed: int, vocab_size: int, label: str) -> Path:
    """Save a tiny random model with its tokenizer/processor and a ``synscale_model.json`` note marking
    it as a test model (``synscale.word2sen.describe_model`` reports the note)."""
    model.save_pretrained(str(out))
    processor.save_pretrained(str(out))
    (out / MODEL_NOTE).write_text(json.dumps({"label": label, "test_model": True, "seed": seed,
                                              "vocab_size": vocab_size}, indent=2) + "\n")
    return out


def save_tiny_t5(out_dir: str | Path, words: Sequence[str] = (), seed: int = 0, d_model: int = 32) -> Path:
    """Save a tiny, randomly initialised T5 with a word-level tokenizer built offline: a stand-in for
    a concept-to-sentence model in tests and offline runs. Its sentences are random words."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = _word_vocab({"<pad>": 0, "</s>": 1, "<unk>": 2}, words)
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    cfg = T5Config(vocab_size=len(vocab), d_model=d_model, d_ff=2 * d_model, d_kv=d_model // 2, num_layers=1,
                   num_decoder_layers=1, num_heads=2, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(seed)
    return save_test_model(out, T5ForConditionalGeneration(cfg), tok, seed, len(vocab),
                           "tiny randomly initialised T5 (test model; untrained, its sentences are random words)")


def save_tiny_blip2(out_dir: str | Path, words: Sequence[str] = (), seed: int = 0, image_size: int = 32,
                    num_query_tokens: int = 4) -> Path:
    """Save a tiny, randomly initialised BLIP-2 (ViT + Q-Former + OPT) with a processor built offline:
    a stand-in for BLIP-2 in tests and offline runs. Its captions are random words."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        Blip2QFormerConfig,
        Blip2VisionConfig,
        BlipImageProcessor,
        OPTConfig,
        PreTrainedTokenizerFast,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = _word_vocab({"<pad>": 0, "</s>": 1, "<unk>": 2, "<image>": 3}, words)
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = TemplateProcessing(single="</s> $A", special_tokens=[("</s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="</s>", bos_token="</s>",
                                  unk_token="<unk>", extra_special_tokens={"image_token": "<image>"})
    proc = Blip2Processor(BlipImageProcessor(size={"height": image_size, "width": image_size}), tok,
                          num_query_tokens=num_query_tokens)
    h, init = 32, 0.5   # a wide initialisation, so that the captions depend on the image
    vc = Blip2VisionConfig(hidden_size=h, intermediate_size=2 * h, num_hidden_layers=1, num_attention_heads=2,
                           image_size=image_size, patch_size=image_size // 4, initializer_range=init)
    qc = Blip2QFormerConfig(hidden_size=h, num_hidden_layers=1, num_attention_heads=2, intermediate_size=2 * h,
                            encoder_hidden_size=h, vocab_size=len(vocab), initializer_range=init)
    tc = OPTConfig(vocab_size=len(vocab), hidden_size=h, num_hidden_layers=1, ffn_dim=2 * h, num_attention_heads=2,
                   word_embed_proj_dim=h, max_position_embeddings=128, pad_token_id=0, bos_token_id=1,
                   eos_token_id=1, init_std=init)
    cfg = Blip2Config(vision_config=vc.to_dict(), qformer_config=qc.to_dict(), text_config=tc.to_dict(),
                      num_query_tokens=num_query_tokens, image_token_index=vocab["<image>"], initializer_range=init)
    torch.manual_seed(seed)
    return save_test_model(out, Blip2ForConditionalGeneration(cfg), proc, seed, len(vocab),
                           "tiny randomly initialised BLIP-2 (test model; untrained, its captions are random words)")


# --------------------------------------------------------------------------- the whole set


def paperlike_assets(root: str | Path, n_classes: int = 4, size: int = 32, per_class_train: int = 60,
                     per_class_val: int = 20, shard_size: int = 60) -> dict:
    """Write a miniature paper-shaped set of external inputs under ``root`` and return their paths.

    * ``imagenet/train-*.tar`` (png) and ``imagenet/val-*.tar`` (jpg): tinted RGB ``size`` px MNIST
      digits of the classes 0..n_classes-1 (from the embedded 5,000 digits), train in round-robin
      class order, ``per_class_train`` / ``per_class_val`` per class, disjoint;
    * ``ood_full/*.tar``: scikit-learn's 8x8 digits framed like MNIST, every class, 20 per class;
    * ``ood_subset/*.tar`` + ``ood_subset/indices.txt``: the same kind of images for the classes
      1 and 3 only (those below n_classes; labels in the full index space, like ImageNet-A), disjoint
      from ood_full, and the covered class indices one per line (the format of timm's
      ``imagenet_a_indices.txt``);
    * ``classes.json``: ``{"names": [...], "ids": [...]}``;
    * ``models/if/stage{1,2}`` (a tiny DeepFloyd IF cascade, ``size / 2`` then ``size`` px) and
      ``models/amused`` (a tiny aMUSEd pipeline) from ``tests/support/assets_families.py``;
    * ``models/sdxl`` (a tiny SDXL pipeline, ``size`` px) and ``models/flux`` (a tiny FLUX.1-dev pipeline,
      ``size / 2`` px) from ``tests/support/assets_modern.py``;
    * ``models/sd`` (tiny SD 1.5-shaped pipeline), ``models/t5`` (tiny T5 knowing the class names),
      ``models/blip2`` (tiny BLIP-2 for ``size`` px images), ``models/reference.pt`` (a resnet10t
      timm state dict with ``n_classes`` outputs).

    Returns a dict with the keys train_shards, val_shards, ood_full, ood_subset (brace patterns
    such as ``root/imagenet/train-{000000..000003}.tar``), ood_subset_indices, class_index, sd,
    if_stage1, if_stage2, amused, sdxl, flux, t5, blip2 and reference (paths).
    """
    if not 2 <= n_classes <= len(DIGIT_NAMES):
        raise ValueError(f"n_classes must be in 2..{len(DIGIT_NAMES)}, got {n_classes}")
    subset = [c for c in OOD_SUBSET_CLASSES if c < n_classes]
    root = Path(root)
    rng = np.random.default_rng(0)
    classes = list(range(n_classes))

    images, labels = load_mnist_embedded()
    train_idx, val_idx = _take_per_class(labels, classes, [per_class_train, per_class_val], rng)
    train_idx = train_idx[_round_robin(labels[train_idx])]
    val_idx = val_idx[_round_robin(labels[val_idx])]
    rgb = tint(resize(images[np.concatenate([train_idx, val_idx])], size), rng)
    train = write_wds_split(root / "imagenet", "train", rgb[:len(train_idx)], labels[train_idx], shard_size, "png")
    val = write_wds_split(root / "imagenet", "val", rgb[len(train_idx):], labels[val_idx], shard_size, "jpg")

    ood_per_class = 20
    d_images, d_labels = load_sklearn_digits()
    full_idx, pool = _take_per_class(d_labels, classes, [ood_per_class, ood_per_class], rng)
    sub_idx = pool[np.isin(d_labels[pool], subset)]  # disjoint from ood_full
    ood_sets = {}
    for name, idx in (("ood_full", full_idx), ("ood_subset", sub_idx)):
        idx = idx[_round_robin(d_labels[idx])]
        rgb = tint(frame_like_mnist(d_images[idx], size), rng)
        ood_sets[name] = write_wds_split(root / name, name, rgb, d_labels[idx], shard_size, "png")
    indices = root / "ood_subset" / "indices.txt"
    indices.write_text("".join(f"{c}\n" for c in subset))

    names, ids = DIGIT_NAMES[:n_classes], [str(c) for c in classes]
    class_index = root / "classes.json"
    class_index.write_text(json.dumps({"names": names, "ids": ids}, indent=2) + "\n")

    from support.assets_families import save_tiny_amused, save_tiny_if
    from support.assets_modern import save_tiny_flux, save_tiny_sdxl

    models = root / "models"
    if_stage1, if_stage2 = save_tiny_if(models / "if", base_size=size // 2, sr_size=size, words=names)
    return {
        "if_stage1": if_stage1,
        "if_stage2": if_stage2,
        "amused": save_tiny_amused(models / "amused", size=size),
        "train_shards": brace_pattern(train),
        "val_shards": brace_pattern(val),
        "ood_full": brace_pattern(ood_sets["ood_full"]),
        "ood_subset": brace_pattern(ood_sets["ood_subset"]),
        "ood_subset_indices": indices,
        "class_index": class_index,
        "sd": save_tiny_sd(models / "sd", image_size=size),
        "t5": save_tiny_t5(models / "t5", words=names),
        "blip2": save_tiny_blip2(models / "blip2", words=["digit", "drawn", "written", *names], image_size=size),
        "reference": save_reference_state_dict(models / "reference.pt", "resnet10t", num_classes=n_classes),
        "sdxl": save_tiny_sdxl(models / "sdxl", image_size=size),
        "flux": save_tiny_flux(models / "flux", image_size=size // 2, variant="dev", words=names),
    }


def write_paperlike_config(assets_dir: str | Path, out: str | Path, paths: dict | None = None) -> Path:
    """Write the paper-shaped test config (``tests/configs/paperlike.yaml``) pointing at the
    miniature inputs in ``assets_dir`` into ``out``. ``paths``: what :func:`paperlike_assets`
    returned for ``assets_dir`` (written now when None); the Inception and SqueezeNet weights, the
    DTD-layout probe root and the caption dataset are added to ``assets_dir``."""
    from support.assets_quality import save_dtd_like, save_random_inception, save_random_squeezenet
    from support.repo import PAPERLIKE, ROOT

    assets_dir, out = Path(assets_dir), Path(out)
    paths = dict(paperlike_assets(assets_dir) if paths is None else paths)
    paths["inception"] = save_random_inception(assets_dir / "models" / "pt_inception-2015-12-05.pth")
    paths["squeezenet"] = save_random_squeezenet(assets_dir / "models" / "squeezenet1_1.pth")
    paths["dtd"] = save_dtd_like(assets_dir / "probes" / "dtd")
    paths["laion"] = caption_dataset_assets(assets_dir / "laion")
    paths["paper_table"] = ROOT / "data" / "paper_grid_1p3M.csv"
    text = PAPERLIKE.read_text()
    for name, path in paths.items():
        text = text.replace(f"@{name}@", str(path))
    assert "\"@" not in text, "unreplaced placeholder in paperlike.yaml"
    out.write_text(text)
    return out
