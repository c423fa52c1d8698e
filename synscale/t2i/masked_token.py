"""The embedded default's tiny masked-token text-to-image model (Muse's open analogue, aMUSEd).

Trained from scratch on the real train images and saved as a real ``diffusers.AmusedPipeline``
directory, loaded like real aMUSEd weights (``synscale.t2i.samplers.MaskedToken``):

* ``vqvae``: a ``VQModel`` (``lookup_from_codebook=True``) tokenizing images in [0, 1] -- the
  pipeline decodes its token ids with ``.clip(0, 1)`` -- into a grid of codebook ids, downsampling
  ``2 ** (len(vq_channels) - 1)`` times (16 px, two blocks: an 8 x 8 grid);
* ``transformer``: a ``UVit2DModel`` predicting codebook logits for every position of a partly masked
  grid (mask token id = ``codebook_size``), conditioned on the prompt's pooled projection
  (``text_embeds``), its penultimate hidden states (cross-attention) and aMUSEd's micro-conditioning
  (width, height, crop top/left, aesthetic score), exactly as ``AmusedPipeline.__call__`` computes them;
* ``text_encoder`` + ``tokenizer``: a small ``CLIPTextModelWithProjection`` with the real CLIP BPE
  tokenizer (built offline from the vocabulary open_clip ships); no pretrained weights exist here, so
  it is trained jointly with the transformer, the prompt dropped to the empty string (the pipeline's
  unconditional prompt) with probability ``uncond_prob`` for classifier-free guidance;
* ``scheduler``: ``AmusedScheduler`` with cosine masking.

Training has two phases: the VQ tokenizer (reconstruction + codebook + commitment losses, dead codes
restarted from encoder outputs), then the transformer and the text encoder on the frozen tokenizer's
token grids (Muse's masked-token cross-entropy on the masked positions, the masking ratio
``cos(pi/2 * u)`` for ``u ~ U(0, 1)``), with an exponential moving average of their weights. Every
random draw comes from ``torch.Generator`` objects seeded by ``seed``: training is deterministic.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from synscale.t2i.clip_tokenizer import CLIP_MAX_LENGTH, CLIP_VOCAB_SIZE, clip_tokenizer, write_clip_vocab_files  # noqa: F401,E501
from synscale.t2i.tiny import NO_STAGES, lr_at

log = logging.getLogger(__name__)

# the micro-conditioning the pipeline passes by default: (width, height) set per call, crop (0, 0), score 6
MICRO_COND_CROP = (0, 0)
MICRO_COND_AESTHETIC = 6

ProgressFactory = Callable[[str, int], Callable[[int, float], None]]


# --------------------------------------------------------------------------- the CLIP tokenizer, offline


# --------------------------------------------------------------------------- building


def token_grid(arch: dict, image_size: int) -> int:
    """The side of the VQ token grid of an ``image_size`` px image."""
    factor = 2 ** (len(arch["vq_channels"]) - 1)
    if image_size % factor:
        raise ValueError(f"image size {image_size} is not a multiple of the VQ downsampling factor {factor}")
    grid = image_size // factor
    if arch["downsample"] and grid % 2:
        raise ValueError(f"a {grid} x {grid} token grid cannot be halved by the transformer (downsample: true)")
    return grid


def build_amused(arch: dict, channels: int, image_size: int, seed: int):
    """An untrained ``AmusedPipeline`` of the given tiny architecture for ``image_size`` px images
    with ``channels`` channels.

    ``arch`` keys: ``vq_channels`` (VQ block widths; one 2x downsampling per block after the first),
    ``vq_norm_groups``, ``latent_channels`` (the codebook vectors' dimension), ``codebook_size``;
    ``text_hidden``, ``text_layers``, ``text_heads``, ``max_length`` (prompt tokens) of the CLIP text
    encoder; ``hidden_size``, ``block_channels``, ``res_blocks``, ``block_heads``, ``layers``,
    ``heads``, ``intermediate_size``, ``micro_cond_dim`` and ``downsample`` of the ``UVit2DModel``.
    """
    from diffusers import AmusedPipeline, AmusedScheduler, UVit2DModel, VQModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    grid = token_grid(arch, image_size)
    codebook = int(arch["codebook_size"])
    max_length = int(arch["max_length"])
    tokenizer = clip_tokenizer(max_length)
    th = int(arch["text_hidden"])
    text_cfg = CLIPTextConfig(vocab_size=CLIP_VOCAB_SIZE, hidden_size=th, intermediate_size=4 * th,
                              num_hidden_layers=int(arch["text_layers"]), num_attention_heads=int(arch["text_heads"]),
                              max_position_embeddings=max_length, hidden_act="quick_gelu", projection_dim=th,
                              layer_norm_eps=1e-5, bos_token_id=tokenizer.bos_token_id,
                              eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModelWithProjection(text_cfg)
    vq_ch = tuple(int(c) for c in arch["vq_channels"])
    torch.manual_seed(seed + 1)
    vqvae = VQModel(in_channels=channels, out_channels=channels, latent_channels=int(arch["latent_channels"]),
                    num_vq_embeddings=codebook, block_out_channels=vq_ch,
                    down_block_types=("DownEncoderBlock2D",) * len(vq_ch),
                    up_block_types=("UpDecoderBlock2D",) * len(vq_ch), layers_per_block=1,
                    norm_num_groups=int(arch["vq_norm_groups"]), act_fn="silu", sample_size=image_size,
                    mid_block_add_attention=False, lookup_from_codebook=True, force_upcast=True)
    hidden, mc = int(arch["hidden_size"]), int(arch["micro_cond_dim"])
    torch.manual_seed(seed + 2)
    transformer = UVit2DModel(hidden_size=hidden, use_bias=False, hidden_dropout=0.0, cond_embed_dim=th,
                              micro_cond_encode_dim=mc, micro_cond_embed_dim=5 * mc, encoder_hidden_size=th,
                              vocab_size=codebook + 1, codebook_size=codebook, in_channels=int(arch["block_channels"]),
                              block_out_channels=int(arch["block_channels"]), num_res_blocks=int(arch["res_blocks"]),
                              downsample=bool(arch["downsample"]),
                              upsample=bool(arch["downsample"]), block_num_heads=int(arch["block_heads"]),
                              num_hidden_layers=int(arch["layers"]), num_attention_heads=int(arch["heads"]),
                              attention_dropout=0.0, intermediate_size=int(arch["intermediate_size"]),
                              layer_norm_eps=1e-6, ln_elementwise_affine=True, sample_size=grid)
    scheduler = AmusedScheduler(mask_token_id=codebook, masking_schedule="cosine")
    pipe = AmusedPipeline(vqvae=vqvae, tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer,
                          scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --------------------------------------------------------------------------- helpers


def to_unit(images: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x C -> float N x C x H x W in [0, 1] (aMUSEd's VQ image range)."""
    return torch.from_numpy(np.ascontiguousarray(images)).float().div(255.0).permute(0, 3, 1, 2).contiguous()


def _encode_latents(vq, x: torch.Tensor) -> tuple[torch.Tensor, torch.Size]:
    """Pre-quantisation latents as N*h*w x D rows (row-major over the grid, as ``VectorQuantizer``
    flattens them) and their N x D x h x w shape."""
    z = vq.quant_conv(vq.encoder(x))
    return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]), z.shape


def _nearest(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Codebook ids of the rows of ``z``, exactly as ``VectorQuantizer.forward`` picks them."""
    return torch.argmin(torch.cdist(z, codes), dim=1)


@torch.no_grad()
def encode_tokens(vq, images: np.ndarray, batch_size: int = 500) -> torch.Tensor:
    """The VQ token grids (N x h x w codebook ids) of uint8 ``images``."""
    out = []
    x_all = to_unit(images)
    for i in range(0, len(x_all), batch_size):
        z, shape = _encode_latents(vq, x_all[i:i + batch_size])
        out.append(_nearest(z, vq.quantize.embedding.weight).view(shape[0], shape[2], shape[3]))
    return torch.cat(out)


@torch.no_grad()
def decode_tokens(vq, tokens: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] (N x C x H x W) of token grids, decoded as ``AmusedPipeline`` decodes them."""
    n, h, w = tokens.shape
    return vq.decode(tokens, force_not_quantize=True, shape=(n, h, w, vq.config.latent_channels)).sample.clip(0, 1)


def _progress(factory: ProgressFactory | None, name: str, total: int) -> Callable[[int, float], None] | None:
    return factory(name, total) if factory else None


# --------------------------------------------------------------------------- training


def train_vq(pipe, images: np.ndarray, steps: int, batch_size: int, lr: float, commit_weight: float, seed: int,
             restart_every: int = 25, progress: Callable[[int, float], None] | None = None, stages=NO_STAGES) -> dict:
    """Train the VQ tokenizer: reconstruction MSE in [0, 1] + codebook loss + ``commit_weight`` x
    commitment loss, the straight-through estimator through the quantiser. Every ``restart_every``
    steps (until the last fifth) codes unused since the last restart are moved onto random encoder
    outputs of the current batch."""
    vq = pipe.vqvae
    done = stages.skip("VQ")
    if done is not None:
        vq.eval()
        return done
    vq.train()
    g = torch.Generator().manual_seed(seed)
    x_all = to_unit(images)
    emb = vq.quantize.embedding.weight
    opt = torch.optim.AdamW(vq.parameters(), lr=lr, weight_decay=0.0)
    warm = max(1, steps // 20)
    st = {"usage": torch.zeros(emb.shape[0]), "losses": [], "restarted": 0}
    start = stages.begin("VQ", {"opt": opt}, g, st)
    usage, losses = st["usage"], st["losses"]
    for step in range(start, steps):
        x = x_all[torch.randint(0, len(x_all), (batch_size,), generator=g)]
        z, shape = _encode_latents(vq, x)
        ids = _nearest(z.detach(), emb.detach())
        zq = emb[ids]
        codebook_loss = F.mse_loss(zq, z.detach())
        commit_loss = F.mse_loss(z, zq.detach())
        zq = z + (zq - z).detach()
        zq = zq.view(shape[0], shape[2], shape[3], shape[1]).permute(0, 3, 1, 2)
        rec = vq.decoder(vq.post_quant_conv(zq))
        rec_loss = F.mse_loss(rec, x)
        loss = rec_loss + codebook_loss + commit_weight * commit_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, warm, lr)
        opt.step()
        usage += torch.bincount(ids, minlength=emb.shape[0]).float()
        if restart_every and (step + 1) % restart_every == 0 and step < 0.8 * steps:
            dead = (usage == 0).nonzero().flatten()
            if len(dead):
                pick = torch.randint(0, len(z), (len(dead),), generator=g)
                with torch.no_grad():
                    emb[dead] = z.detach()[pick]
                    state = opt.state.get(emb, {})
                    for k in ("exp_avg", "exp_avg_sq"):
                        if k in state:
                            state[k][dead] = 0.0
                st["restarted"] += len(dead)
            usage.zero_()
        losses.append(rec_loss.item())
        if progress:
            progress(step + 1, loss.item())
        stages.step("VQ", step, loss.item(), lr_at(step, steps, warm, lr))
    vq.eval()
    tokens = encode_tokens(vq, images)
    with torch.no_grad():
        rec = torch.cat([decode_tokens(vq, tokens[i:i + 500]) for i in range(0, len(tokens), 500)])
    used = int(torch.unique(tokens).numel())
    stats = {"vq_final_loss": float(np.mean(losses[-20:])) if losses else float("nan"),
             "vq_recon_mse": float(F.mse_loss(rec, x_all)), "vq_codes_used": used,
             "vq_codes_restarted": st["restarted"]}
    stages.finish("VQ", stats)
    return stats


def _tokenize(pipe, texts: Sequence[str]) -> torch.Tensor:
    """Prompt token ids exactly as ``AmusedPipeline.__call__`` tokenizes prompts."""
    return pipe.tokenizer(list(texts), return_tensors="pt", padding="max_length", truncation=True,
                          max_length=pipe.tokenizer.model_max_length).input_ids


def _text_conditioning(text_encoder, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pooled projection, penultimate hidden states): the pipeline's ``prompt_embeds`` and
    ``encoder_hidden_states``."""
    out = text_encoder(ids, return_dict=True, output_hidden_states=True)
    return out.text_embeds, out.hidden_states[-2]


def micro_conds(batch_size: int, image_size: int) -> torch.Tensor:
    """aMUSEd's micro-conditioning as the pipeline passes it by default for ``image_size`` px images."""
    row = torch.tensor([image_size, image_size, *MICRO_COND_CROP, MICRO_COND_AESTHETIC], dtype=torch.float32)
    return row.expand(batch_size, -1)


def mask_tokens(tokens: torch.Tensor, mask_id: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Muse's training corruption: per grid, mask ``round(cos(pi/2 u) * L)`` (at least one) of its
    ``L`` positions, ``u ~ U(0, 1)``, chosen uniformly. Returns (input ids, mask)."""
    b = tokens.shape[0]
    flat = tokens.reshape(b, -1)
    seq = flat.shape[1]
    ratio = torch.cos(torch.rand(b, generator=g) * math.pi / 2)
    n_mask = (ratio * seq).round().clamp(min=1)
    ranks = torch.rand(b, seq, generator=g).argsort(dim=1).argsort(dim=1)
    mask = ranks < n_mask[:, None]
    inp = torch.where(mask, torch.full_like(flat, mask_id), flat)
    return inp.view_as(tokens), mask.view_as(tokens)


def train_transformer(pipe, tokens: torch.Tensor, caption_sets: Sequence[Sequence[str]], steps: int,
                      batch_size: int, lr: float, text_lr: float, uncond_prob: float, weight_decay: float,
                      ema_decay: float, label_smoothing: float, image_size: int, seed: int,
                      progress: Callable[[int, float], None] | None = None, stages=NO_STAGES) -> dict:
    """Train the transformer and the text encoder jointly on the token grids ``tokens`` (N x h x w):
    masked-token cross-entropy on the masked positions, the prompt one of the image's phrasings or,
    with probability ``uncond_prob``, the empty prompt. Their weights end as an EMA (``ema_decay``)."""
    from diffusers.training_utils import EMAModel

    tr, te = pipe.transformer, pipe.text_encoder
    done = stages.skip("transformer")
    if done is not None:
        tr.eval()
        te.eval()
        return done
    mask_id = pipe.scheduler.config.mask_token_id
    g = torch.Generator().manual_seed(seed)
    uniq = sorted({str(c) for cs in caption_sets for c in cs} | {""})
    index = {c: i for i, c in enumerate(uniq)}
    ids_all = _tokenize(pipe, uniq)
    cap_idx = torch.tensor([[index[str(c)] for c in cs] for cs in caption_sets])
    empty = index[""]
    mc = micro_conds(batch_size, image_size)
    tr.train()
    te.train()
    params = [p for p in (*tr.parameters(), *te.parameters()) if p.requires_grad]
    # no weight decay on biases, norms and embedding tables
    no_decay = {id(p) for p in params if p.ndim < 2}
    no_decay |= {id(m.weight) for m in (*tr.modules(), *te.modules()) if isinstance(m, torch.nn.Embedding)}
    tr_ids = {id(p) for p in tr.parameters()}
    groups = []
    for in_tr, group_lr in ((True, lr), (False, text_lr)):
        for decay in (True, False):
            ps = [p for p in params if (id(p) in tr_ids) == in_tr and (id(p) not in no_decay) == decay]
            if ps:
                groups.append({"params": ps, "weight_decay": weight_decay if decay else 0.0, "base_lr": group_lr})
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))
    warm = max(1, steps // 20)
    # the 49408-row token table is averaged too, but only the rows of the captions' tokens ever change
    ema = EMAModel(params, decay=ema_decay, min_decay=0.0, update_after_step=0, use_ema_warmup=True, power=0.75)
    st = {"losses": [], "accs": []}
    start = stages.begin("transformer", {"opt": opt, "ema": ema}, g, st)
    losses, accs = st["losses"], st["accs"]
    for step in range(start, steps):
        idx = torch.randint(0, len(tokens), (batch_size,), generator=g)
        which = torch.randint(0, cap_idx.shape[1], (batch_size,), generator=g)
        ci = cap_idx[idx, which]
        drop = torch.rand(batch_size, generator=g) < uncond_prob
        ci = torch.where(drop, torch.full_like(ci, empty), ci)
        target = tokens[idx]
        inp, mask = mask_tokens(target, mask_id, g)
        pooled, hidden = _text_conditioning(te, ids_all[ci])
        logits = tr(inp, encoder_hidden_states=hidden, pooled_text_emb=pooled, micro_conds=mc)
        logits = logits.permute(0, 2, 3, 1)[mask]
        loss = F.cross_entropy(logits, target[mask], label_smoothing=label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, warm, group["base_lr"])
        opt.step()
        ema.step(params)
        losses.append(loss.item())
        accs.append(float((logits.argmax(-1) == target[mask]).float().mean()))
        if progress:
            progress(step + 1, loss.item())
        stages.step("transformer", step, loss.item(), lr_at(step, steps, warm, lr))
    ema.copy_to(params)
    tr.eval()
    te.eval()
    stats = {"transformer_final_loss": float(np.mean(losses[-50:])) if losses else float("nan"),
             "transformer_final_masked_acc": float(np.mean(accs[-50:])) if accs else float("nan"),
             "distinct_captions": len(uniq)}
    stages.finish("transformer", stats)
    return stats


def train_amused(pipe, images: np.ndarray, caption_sets: list[list[str]], tc: dict, seed: int,
                 progress: ProgressFactory | None = None, stages=NO_STAGES) -> dict:
    """Train ``pipe`` (from ``build_amused``) on uint8 ``images`` (N x H x W x C) whose phrasings are
    ``caption_sets``: the VQ tokenizer, then the transformer and text encoder on its token grids.

    ``tc`` (the config's ``models.<name>.train``) keys: ``vq_steps``, ``vq_batch_size``, ``vq_lr``,
    ``commit_weight``; ``steps``, ``batch_size``, ``lr``, ``text_lr``, ``uncond_prob``,
    ``weight_decay``, ``ema_decay``, ``label_smoothing``. ``progress`` is None or a factory
    ``progress(name, total)`` (e.g. ``synscale.logs.Progress``) returning a callable that is called
    after every step with the number of steps done and the step's loss; ``stages``
    (``synscale.t2i.tiny.NoStages``) resumes stages "VQ" and "transformer". Returns JSON-able stats."""
    if len(images) != len(caption_sets):
        raise ValueError(f"{len(images)} images but {len(caption_sets)} caption sets")
    image_size = images.shape[1]
    t0 = time.time()
    vq_stats = train_vq(pipe, images, int(tc["vq_steps"]), int(tc["vq_batch_size"]), float(tc["vq_lr"]),
                        float(tc["commit_weight"]), seed, progress=_progress(progress, "VQ", int(tc["vq_steps"])),
                        stages=stages)
    t1 = time.time()
    log.info("VQ: %s (%.0fs)", vq_stats, t1 - t0)
    tokens = encode_tokens(pipe.vqvae, images)
    tr_stats = train_transformer(pipe, tokens, caption_sets, int(tc["steps"]), int(tc["batch_size"]),
                                 float(tc["lr"]), float(tc["text_lr"]), float(tc["uncond_prob"]),
                                 float(tc["weight_decay"]), float(tc["ema_decay"]),
                                 float(tc["label_smoothing"]), image_size, seed + 1,
                                 progress=_progress(progress, "transformer", int(tc["steps"])), stages=stages)
    t2 = time.time()
    log.info("transformer: %s (%.0fs)", tr_stats, t2 - t1)
    return {**vq_stats, **tr_stats, "vq_seconds": round(t1 - t0, 1), "transformer_seconds": round(t2 - t1, 1)}


def save_amused(pipe, out_dir: str | Path) -> Path:
    """``pipe.save_pretrained(out_dir)`` plus the CLIP tokenizer's ``vocab.json`` and ``merges.txt``
    (as aMUSEd ships them), so that the directory loads offline with
    ``AmusedPipeline.from_pretrained(out_dir, local_files_only=True)`` with any tokenizer backend."""
    out = Path(out_dir)
    pipe.save_pretrained(str(out))
    write_clip_vocab_files(out / "tokenizer")
    return out
