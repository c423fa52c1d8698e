"""The tiny masked-token model (aMUSEd-shaped): built, trained a few steps, saved as an
``AmusedPipeline`` directory and loaded back offline with ``synscale.t2i.samplers.load_sampler``, as
real aMUSEd weights are."""
import json

import numpy as np
import pytest
import torch

from synscale.data.embedded import DIGIT_NAMES
from synscale.t2i import masked_token as ta
from synscale.t2i.samplers import load_sampler

pytestmark = pytest.mark.subprocess   # trains the tiny model (again, to check determinism)

ARCH = {"vq_channels": [16, 16], "vq_norm_groups": 8, "latent_channels": 4, "codebook_size": 32,
        "text_hidden": 16, "text_layers": 2, "text_heads": 2, "max_length": 16,
        "hidden_size": 32, "block_channels": 16, "res_blocks": 1, "block_heads": 2, "layers": 1, "heads": 2,
        "intermediate_size": 64, "micro_cond_dim": 4, "downsample": False}
TRAIN = {"vq_steps": 4, "vq_batch_size": 8, "vq_lr": 1e-3, "commit_weight": 0.25,
         "steps": 4, "batch_size": 8, "lr": 1e-3, "text_lr": 1e-3, "uncond_prob": 0.25, "weight_decay": 0.01,
         "ema_decay": 0.99, "label_smoothing": 0.0}
PROMPTS = ["seven, thin strokes", "two", "a photo of a three."]


def _data(n: int = 40):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, 16, 16, 1), dtype=np.uint8)
    caps = [[DIGIT_NAMES[i % 10], f"a handwritten {DIGIT_NAMES[i % 10]}"] for i in range(n)]
    return images, caps


def _trained(seed: int = 0, progress=None):
    torch.set_num_threads(1)
    pipe = ta.build_amused(ARCH, 1, 16, seed)
    images, caps = _data()
    stats = ta.train_amused(pipe, images, caps, TRAIN, seed, progress=progress)
    return pipe, stats


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    calls = []

    def progress(name, total):
        return lambda step, loss: calls.append((name, total, step, loss))

    pipe, stats = _trained(progress=progress)
    d = ta.save_amused(pipe, tmp_path_factory.mktemp("muse") / "muse")
    return d, pipe, stats, calls


def test_saved_as_an_amused_pipeline(trained):
    d, _, stats, calls = trained
    idx = json.loads((d / "model_index.json").read_text())
    assert idx["_class_name"] == "AmusedPipeline"
    assert idx["vqvae"] == ["diffusers", "VQModel"] and idx["transformer"] == ["diffusers", "UVit2DModel"]
    assert idx["text_encoder"][1] == "CLIPTextModelWithProjection" and idx["tokenizer"][1] == "CLIPTokenizer"
    assert json.loads((d / "vqvae" / "config.json").read_text())["lookup_from_codebook"] is True
    assert json.loads((d / "scheduler" / "scheduler_config.json").read_text())["mask_token_id"] == 32
    assert (d / "tokenizer" / "vocab.json").is_file() and (d / "tokenizer" / "merges.txt").is_file()
    json.dumps(stats)  # JSON-able
    assert stats["distinct_captions"] == 21 and 1 <= stats["vq_codes_used"] <= 32
    assert [(n, t, s) for n, t, s, _ in calls] == [("VQ", 4, s) for s in range(1, 5)] + \
        [("transformer", 4, s) for s in range(1, 5)]


def test_tokens_round_trip(trained):
    _, pipe, _, _ = trained
    images, _ = _data(6)
    tokens = ta.encode_tokens(pipe.vqvae, images)
    assert tokens.shape == (6, 8, 8) and tokens.dtype == torch.long
    assert 0 <= int(tokens.min()) and int(tokens.max()) < 32
    dec = ta.decode_tokens(pipe.vqvae, tokens)
    assert dec.shape == (6, 1, 16, 16) and float(dec.min()) >= 0 and float(dec.max()) <= 1


def test_loads_offline_and_generates_deterministically(trained):
    d = trained[0]
    sampler = load_sampler("masked_token", [d], {}, "muse")

    def sample(t: float, seed: int = 0):
        return sampler(prompt=PROMPTS, guidance_scale=t, num_inference_steps=4,
                       generator=torch.Generator().manual_seed(seed), output_type="np").images

    a, b = sample(0.3), sample(0.3)
    assert a.shape == (3, 16, 16, 1) and a.dtype == np.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, sample(0.0))      # Muse guidance t = 0.3 (w rising from 1 to 1.3) vs unguided
    assert not np.array_equal(a, sample(0.3, seed=1))


def test_training_is_deterministic(trained):
    _, pipe, stats, _ = trained
    again, stats2 = _trained()
    for name in ("vqvae", "transformer", "text_encoder"):
        sd1, sd2 = getattr(pipe, name).state_dict(), getattr(again, name).state_dict()
        assert sd1.keys() == sd2.keys()
        for k in sd1:
            torch.testing.assert_close(sd1[k], sd2[k], rtol=0, atol=0, msg=f"{name}.{k}")
    drop = ("vq_seconds", "transformer_seconds")
    assert {k: v for k, v in stats.items() if k not in drop} == {k: v for k, v in stats2.items() if k not in drop}


def test_training_matches_the_pipelines_conditioning(trained):
    """Training tokenizes prompts and reads the text encoder exactly as AmusedPipeline does."""
    _, pipe, _, _ = trained
    ids = ta._tokenize(pipe, ["", "seven"])
    assert ids.shape == (2, ARCH["max_length"]) and ids[0, 0] == pipe.tokenizer.bos_token_id
    with torch.no_grad():
        pooled, hidden = ta._text_conditioning(pipe.text_encoder, ids)
        out = pipe.text_encoder(ids, return_dict=True, output_hidden_states=True)
    torch.testing.assert_close(pooled, out.text_embeds)
    torch.testing.assert_close(hidden, out.hidden_states[-2])
    assert ta.micro_conds(2, 16).tolist() == [[16, 16, 0, 0, 6]] * 2


def test_masking_follows_the_cosine_schedule():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 32, (2000, 8, 8), generator=g)
    inp, mask = ta.mask_tokens(tokens, 32, g)
    assert bool((inp[mask] == 32).all()) and bool((inp[~mask] == tokens[~mask]).all())
    frac = mask.flatten(1).float().mean(1)
    assert float(frac.min()) >= 1 / 64
    assert abs(float(frac.mean()) - 2 / np.pi) < 0.02   # E[cos(pi u / 2)] = 2 / pi


def test_bad_grid_is_refused():
    with pytest.raises(ValueError, match="multiple of the VQ downsampling"):
        ta.build_amused({**ARCH, "vq_channels": [16, 16, 16]}, 1, 18, 0)
