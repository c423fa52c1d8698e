"""The family ``diffusers`` (synscale.t2i.modern): today's pipelines from local directories, sampled
with each model's stated guidance semantics, refused where the directory says otherwise."""
import numpy as np
import pytest
import torch
from support.assets_modern import save_tiny_modern

from synscale.t2i.generate import sample_images
from synscale.t2i.samplers import MissingWeightsError, load_sampler

pytestmark = pytest.mark.subprocess  # builds and loads tiny pipelines

SIZE = 16


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    return {k: str(v) for k, v in save_tiny_modern(tmp_path_factory.mktemp("modern"), image_size=SIZE).items()}


def _cfg(guidance, **kw):
    return {"family": "diffusers", "guidance": guidance, "resolution": SIZE, "steps": 2, **kw}


def _sample(sampler, guidance, seed=0):
    return sample_images(sampler, ["a cat", "a red car"], guidance, 2, 2, (seed, "run", 0), SIZE, 3)


@pytest.mark.parametrize("model, guidance", [("sdxl", "cfg"), ("sd3", "cfg"), ("pixart_sigma", "cfg"),
                                             ("flux_dev", "distilled"), ("sdxl_lcm", "distilled"),
                                             ("flux_schnell", "none"), ("sdxl_turbo", "none")])
def test_each_pipeline_samples_with_its_guidance(dirs, model, guidance):
    s = load_sampler("diffusers", [dirs[model]], _cfg(guidance), name=model)
    a = _sample(s, 2.0)
    assert a.shape == (2, SIZE, SIZE, 3) and a.dtype == np.uint8
    assert np.array_equal(a, _sample(s, 2.0))              # same seed, same bytes
    calls = s.describe()["pipeline_calls"]
    assert calls[0]["height"] == calls[0]["width"] == SIZE
    b = _sample(s, 5.0)
    if guidance == "none":   # the run's value never reaches the model: guidance_scale 0
        assert np.array_equal(a, b) and calls[0]["guidance_scale"] == 0.0
    else:                    # classifier-free or distilled: the value changes the images
        assert not np.array_equal(a, b) and s.describe()["pipeline_calls"][0]["guidance_scale"] == 5.0
    assert s.describe()["guidance"] == guidance


@pytest.mark.parametrize("model, stated, message", [
    ("flux_dev", "cfg", "takes distilled or none"), ("flux_schnell", "distilled", "set guidance: none"),
    ("flux_schnell", "cfg", "takes distilled or none"), ("sdxl_lcm", "cfg", "guidance-distilled"),
    ("sd3", "distilled", "takes cfg or none")])
def test_stated_guidance_that_the_directory_contradicts_is_refused(dirs, model, stated, message):
    with pytest.raises(ValueError, match=rf"models\.{model}\.guidance.*{message}"):
        load_sampler("diffusers", [dirs[model]], _cfg(stated), name=model)


def test_the_sdxl_refiner_takes_over_the_base_latents(dirs):
    base = load_sampler("diffusers", [dirs["sdxl"]], _cfg("cfg"), name="x")
    refined = load_sampler("diffusers", [dirs["sdxl"], dirs["sdxl_refiner"]], _cfg("cfg", refiner_start=0.5),
                           name="x")
    a, b = _sample(base, 3.0), _sample(refined, 3.0)
    assert b.shape == a.shape and not np.array_equal(a, b)
    calls = refined.describe()["pipeline_calls"]
    assert [c["pipeline"] for c in calls] == ["StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline"]
    assert calls[0]["denoising_end"] == calls[1]["denoising_start"] == 0.5
    with pytest.raises(ValueError, match=r"models\.x\.refiner_path.*SDXL base only"):
        load_sampler("diffusers", [dirs["sd3"], dirs["sdxl_refiner"]], _cfg("cfg"), name="x")


def test_scheduler_override_and_bad_inputs(dirs, tmp_path):
    s = load_sampler("diffusers", [dirs["sdxl"]], _cfg("cfg", scheduler="EulerAncestralDiscreteScheduler"), name="x")
    assert s.describe()["pipelines"][0]["scheduler"]["class"] == "EulerAncestralDiscreteScheduler"
    with pytest.raises(ValueError, match=r"models\.x\.scheduler.*not a diffusers scheduler"):
        load_sampler("diffusers", [dirs["sdxl"]], _cfg("cfg", scheduler="os.system"), name="x")
    with pytest.raises(MissingWeightsError, match=r"models\.x\.path.*model_index\.json missing"):
        load_sampler("diffusers", [str(tmp_path / "nowhere")], _cfg("cfg"), name="x")
    # a directory of a class outside the family (the refiner alone is no text-to-image model)
    with pytest.raises(ValueError, match=r"models\.x\.path.*StableDiffusionXLImg2ImgPipeline"):
        load_sampler("diffusers", [dirs["sdxl_refiner"]], _cfg("cfg"), name="x")
    torch.manual_seed(0)


PROMPTS = ["a cat", "a dog", "a cat", "a red car", "a dog", "a cat", "a ship", "a dog"]   # 3 batches of 3


def _bare(sampler, prompts, guidance, batch_size):
    """The images of each batch sampled with the prompts themselves (no planned job: no cache)."""
    from synscale.seeds import seed_for

    sampler.planned, out = False, []
    for b, lo in enumerate(range(0, len(prompts), batch_size)):
        gen = torch.Generator().manual_seed(seed_for(0, "run", 0, "batch", b))
        o = sampler(prompt=prompts[lo:lo + batch_size], guidance_scale=guidance, num_inference_steps=2, generator=gen)
        out.append(np.clip(np.round(o.images * 255.0), 0, 255).astype(np.uint8))
    return np.concatenate(out)


@pytest.mark.parametrize("model, guidance", [("sdxl", "cfg"), ("sd3", "cfg"), ("pixart_sigma", "cfg"),
                                             ("flux_dev", "distilled"), ("flux_schnell", "none"),
                                             ("sdxl_lcm", "distilled")])
def test_text_embeddings_once_per_distinct_prompt_same_images(dirs, model, guidance, monkeypatch):
    s = load_sampler("diffusers", [dirs[model]], _cfg(guidance), name=model)
    pipe, encoded = s.pipes[0], []
    real = pipe.encode_prompt

    def spy(*a, **kw):    # the pipelines call it with prompt=None to pass given embeddings through
        prompt = kw.get("prompt", a[0] if a else None)
        if prompt is not None:
            encoded.append(list(prompt))
        return real(*a, **kw)

    monkeypatch.setattr(pipe, "encode_prompt", spy)
    cached = sample_images(s, PROMPTS, 3.0, 2, 3, (0, "run", 0), SIZE, 3)
    # each distinct prompt encoded once, in the group of its first batch: batch 0 (cat, dog), 1 (red car), 2 (ship)
    assert encoded == [["a cat", "a dog"], ["a red car"], ["a ship"]]
    assert s.describe()["text_embeddings"] == [{"cached": True, "prompts_distinct": 4, "encoder_groups": 3,
                                                "encoded_here": 4, "encoder_calls_here": 3}]
    assert s.describe()["pipeline_calls"][0]["text"] == "prompt_embeds"
    encoded.clear()
    bare = _bare(s, PROMPTS, 3.0, 3)
    assert len(encoded) == 3          # the pipeline's own path: every prompt of every batch
    assert np.array_equal(cached, bare)
    # a process sampling batch 2 alone encodes the same group for it: the same bytes as in the whole job
    part = sample_images(s, PROMPTS, 3.0, 2, 3, (0, "run", 0), SIZE, 3, batches=[2])
    assert np.array_equal(part, cached[6:])
    assert s.embeddings[0].cache == {}      # nothing kept past the last batch that uses it


def test_the_refiner_gets_its_own_cached_embeddings(dirs):
    refined = load_sampler("diffusers", [dirs["sdxl"], dirs["sdxl_refiner"]], _cfg("cfg", refiner_start=0.5),
                           name="x")
    cached = sample_images(refined, PROMPTS, 3.0, 2, 3, (0, "run", 0), SIZE, 3)
    assert [r["encoded_here"] for r in refined.describe()["text_embeddings"]] == [4, 4]
    assert np.array_equal(cached, _bare(refined, PROMPTS, 3.0, 3))
