"""The three T2I families load from tiny random pipelines saved with save_pretrained (no network),
generate images of the configured size, and give the same bytes for the same seed on the CPU."""
import numpy as np
import pytest
import torch

from synscale.t2i.samplers import MissingWeightsError, load_sampler, muse_guidance

CFG = {"sr_steps": 2, "sr_guidance": 4.0, "noise_level": 250}
PROMPTS = ["zero", "seven"]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    from support.assets_families import save_tiny_families

    return save_tiny_families(tmp_path_factory.mktemp("families"), PROMPTS)


def _sample(sampler, seed, guidance, steps=4):
    return sampler(prompt=PROMPTS, guidance_scale=guidance, num_inference_steps=steps,
                   generator=torch.Generator().manual_seed(seed)).images


@pytest.mark.parametrize("family,guidance", [("latent_diffusion", 2.0), ("pixel_cascade", 1.5), ("masked_token", 0.3)])
def test_family_loads_and_samples_deterministically(dirs, family, guidance):
    sampler = load_sampler(family, dirs[family], CFG, "m")
    assert sampler.family == family and sampler.device == torch.device("cpu")
    a, b, c = _sample(sampler, 0, guidance), _sample(sampler, 0, guidance), _sample(sampler, 1, guidance)
    assert a.shape == (2, 16, 16, 3) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_muse_guidance_follows_the_papers_convention(dirs):
    """The paper's Muse guidance t is diffusers' guidance_scale 1 + t: t = 0 is unguided, and the
    paper's 0.1 and 1 both change the images."""
    assert muse_guidance(0.3) == pytest.approx(1.3) and muse_guidance(0) == 1.0
    sampler = load_sampler("masked_token", dirs["masked_token"], CFG, "muse")
    unguided = _sample(sampler, 0, 0.0)
    for t in (0.1, 1.0):
        assert not np.array_equal(_sample(sampler, 0, t), unguided), t


def test_cascade_stage_two_guidance_and_paths(dirs):
    s = load_sampler("pixel_cascade", dirs["pixel_cascade"], {**CFG, "sr_guidance": 1.0}, "imagen")
    low_guidance = _sample(s, 0, 1.5)
    s.sr_guidance = 6.0
    assert not np.array_equal(_sample(s, 0, 1.5), low_guidance)
    with pytest.raises(ValueError, match=r"models\.imagen: family pixel_cascade needs 2 pipeline directories"):
        load_sampler("pixel_cascade", dirs["pixel_cascade"][:1], CFG, "imagen")


def test_missing_or_wrong_directory_names_the_key(dirs, tmp_path):
    with pytest.raises(MissingWeightsError, match=r"models\.imagen\.sr_path = .*nowhere"):
        load_sampler("pixel_cascade", [dirs["pixel_cascade"][0], tmp_path / "nowhere"], CFG, "imagen")
    with pytest.raises(ValueError, match=r"models\.muse\.path = .*cannot load a AmusedPipeline"):
        load_sampler("masked_token", dirs["latent_diffusion"], CFG, "muse")


@pytest.mark.parametrize("family,guidance,per_step", [("latent_diffusion", 2.0, [2.0, 2.0]),
                                                      ("pixel_cascade", 1.5, [1.5, 1.5]),
                                                      ("masked_token", 0.3, [1.0, 1.3])])
def test_describe_names_pipelines_schedulers_and_resolution(dirs, family, guidance, per_step):
    """What a shard manifest records of its sampler: every pipeline's class, its scheduler's class
    and config as the directory holds them, diffusers' guidance_scale of every step of the last call
    (Muse's linear schedule: 1 + 0 at the first step, 1 + t at the last) and its resolution."""
    import json

    from synscale.t2i.samplers import FAMILY_PIPELINES

    sampler = load_sampler(family, dirs[family], CFG, "m")
    _sample(sampler, 0, guidance, steps=2)
    d = json.loads(json.dumps(sampler.describe()))
    assert [p["class"] for p in d["pipelines"]] == list(FAMILY_PIPELINES[family])
    for p, path in zip(d["pipelines"], dirs[family]):
        saved = json.loads((path / "scheduler" / "scheduler_config.json").read_text())
        assert p["scheduler"]["class"] == saved["_class_name"]
        assert {k: v for k, v in p["scheduler"]["config"].items() if not k.startswith("_")} == \
            {k: v for k, v in saved.items() if not k.startswith("_")}
    assert d["guidance_scale_per_step"] == pytest.approx(per_step)
    assert d["sampled_resolution"] == [16, 16]
    assert d["guidance_schedule"] == ("linear" if family == "masked_token" else "constant")
    if family == "pixel_cascade":
        assert (d["sr_guidance"], d["sr_steps"], d["noise_level"]) == (4.0, 2, 250)
