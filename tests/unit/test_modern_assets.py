"""The tiny pipelines of today's text-to-image classes (``support.assets_modern``): each saved directory
loads offline through ``AutoPipelineForText2Image`` as its own class, generates 2 images of the
configured size, the same seed giving the same bytes, and its ``guidance_scale`` acts as diffusers
0.42's ``__call__`` makes it act for that class:

================================  ==========  ==========================================================
pipeline (directory)              guidance    what ``guidance_scale`` does
================================  ==========  ==========================================================
StableDiffusionXLPipeline         cfg         ``> 1``: classifier-free guidance -- the UNet runs on the
(sdxl, sdxl_turbo),                           negative and the positive prompt together (batch doubled),
StableDiffusionXLImg2ImgPipeline              ``uncond + s * (cond - uncond)``; the empty negative prompt
(sdxl_refiner),                               is zeros (``force_zeros_for_empty_prompt``, base only).
StableDiffusion3Pipeline (sd3),               ``<= 1``: one conditional pass, the scale unused (0 and 1
PixArtSigmaPipeline                           give the same images). SDXL-Turbo is plain SDXL with a
(pixart_sigma)                                trailing Euler-ancestral schedule: run at guidance 0.
StableDiffusionXLPipeline with an  distilled  the UNet has ``time_cond_proj_dim``: ``guidance_scale - 1``
LCM UNet (sdxl_lcm)                           enters as a guidance embedding (``timestep_cond``); never
                                              CFG, one pass whatever the scale; every value counts.
FluxPipeline, ``guidance_embeds``  distilled  the transformer embeds ``guidance_scale`` (default 3.5)
(flux_dev)                                    with the timestep; one pass; every value counts.
FluxPipeline, no guidance embeds   none       ``guidance_scale`` is unused: any value, the same images.
(flux_schnell)
================================  ==========  ==========================================================

Both FLUX variants do true CFG only through another argument: ``true_cfg_scale > 1`` together with a
``negative_prompt`` (two transformer passes per step).
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support.assets_modern import save_tiny_flux, save_tiny_modern, save_tiny_sdxl

pytestmark = pytest.mark.subprocess   # builds and loads 8 pipelines (~30 s with the imports)

SIZE = 16
PROMPTS = ["a photo of a cat", "a red car on the street"]
CLASS = {"sdxl": "StableDiffusionXLPipeline", "sdxl_turbo": "StableDiffusionXLPipeline",
         "sdxl_lcm": "StableDiffusionXLPipeline", "sdxl_refiner": "StableDiffusionXLImg2ImgPipeline",
         "sd3": "StableDiffusion3Pipeline", "pixart_sigma": "PixArtSigmaPipeline",
         "flux_dev": "FluxPipeline", "flux_schnell": "FluxPipeline"}
GUIDANCE = {"sdxl": "cfg", "sdxl_turbo": "cfg", "sdxl_lcm": "distilled", "sdxl_refiner": "cfg", "sd3": "cfg",
            "pixart_sigma": "cfg", "flux_dev": "distilled", "flux_schnell": "none"}
TEXT2IMAGE = [n for n in CLASS if n != "sdxl_refiner"]
# what a call must pass at this size: PixArt's aspect-ratio binning knows only its real sample sizes (and
# clean_caption needs bs4); FluxPipeline's default size is 256 px whatever the model's
CALL = {"pixart_sigma": dict(use_resolution_binning=False, clean_caption=False),
        "flux_dev": dict(height=SIZE, width=SIZE, max_sequence_length=32),
        "flux_schnell": dict(height=SIZE, width=SIZE, max_sequence_length=32)}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    torch.set_num_threads(1)
    return save_tiny_modern(tmp_path_factory.mktemp("modern"), seed=0, image_size=SIZE, words=PROMPTS)


@pytest.fixture(scope="module")
def pipes(dirs):
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

    loaded = {}

    def get(name):
        if name not in loaded:
            auto = AutoPipelineForImage2Image if name == "sdxl_refiner" else AutoPipelineForText2Image
            loaded[name] = auto.from_pretrained(str(dirs[name]), local_files_only=True)
            loaded[name].set_progress_bar_config(disable=True)
        return loaded[name]
    return get


def _generate(pipe, name, guidance, seed=0, steps=2, **kw):
    """The 2 images as one uint8 array, and the batch size of each denoiser call."""
    batches = []
    denoiser = pipe.unet if hasattr(pipe, "unet") else pipe.transformer

    def record(module, args, kwargs):
        x = args[0] if args else kwargs.get("hidden_states", kwargs.get("sample"))
        batches.append(int(x.shape[0]))
    hook = denoiser.register_forward_pre_hook(record, with_kwargs=True)
    try:
        out = pipe(PROMPTS, num_inference_steps=steps, guidance_scale=guidance,
                   generator=torch.Generator().manual_seed(seed), **CALL.get(name, {}), **kw)
    finally:
        hook.remove()
    return np.stack([np.asarray(im) for im in out.images]), batches


def test_import_sets_offline_mode():
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"   # tests/conftest.py, before any hub import


@pytest.mark.parametrize("name", list(CLASS))
def test_loads_offline_as_its_own_class(dirs, pipes, name):
    d = dirs[name]
    index = json.loads((d / "model_index.json").read_text())
    note = json.loads((d / "synscale_model.json").read_text())
    assert index["_class_name"] == CLASS[name] == type(pipes(name)).__name__
    assert note["test_model"] is True and note["pipeline"] == CLASS[name] and note["guidance"] == GUIDANCE[name]
    assert note["image_size"] == SIZE


@pytest.mark.parametrize("name", list(CLASS))
def test_loads_through_diffusion_pipeline_too(dirs, name):
    from diffusers import DiffusionPipeline

    assert type(DiffusionPipeline.from_pretrained(str(dirs[name]), local_files_only=True)).__name__ == CLASS[name]


def test_sizes_the_models_cannot_take_are_refused(tmp_path):
    with pytest.raises(ValueError, match="image_size must be a multiple of 4"):
        save_tiny_flux(tmp_path / "f", image_size=18)
    with pytest.raises(ValueError, match="variant must be one of"):
        save_tiny_sdxl(tmp_path / "s", variant="xl")


@pytest.mark.parametrize("name", TEXT2IMAGE)
def test_generates_two_images_of_the_size_deterministically(pipes, name):
    pipe = pipes(name)
    a, _ = _generate(pipe, name, guidance=5.0)
    b, _ = _generate(pipe, name, guidance=5.0)
    c, _ = _generate(pipe, name, guidance=5.0, seed=1)
    assert a.shape == (2, SIZE, SIZE, 3) and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
    assert a[0].tobytes() != a[1].tobytes()


@pytest.mark.parametrize("name", [n for n in TEXT2IMAGE if GUIDANCE[n] == "cfg"])
def test_cfg_models_guide_by_a_doubled_batch_above_one(pipes, name):
    pipe = pipes(name)
    g5, b5 = _generate(pipe, name, guidance=5.0)
    g1, b1 = _generate(pipe, name, guidance=1.0)
    g0, b0 = _generate(pipe, name, guidance=0.0)
    assert b5 == [4, 4] and b1 == b0 == [2, 2]        # 2 steps; uncond + cond only when the scale is > 1
    assert g5.tobytes() != g1.tobytes()
    assert g0.tobytes() == g1.tobytes()               # at <= 1 the scale is unused


@pytest.mark.parametrize("name", ["flux_dev", "sdxl_lcm"])
def test_distilled_guidance_is_an_input_not_cfg(pipes, name):
    pipe = pipes(name)
    g5, b5 = _generate(pipe, name, guidance=5.0)
    g1, b1 = _generate(pipe, name, guidance=1.0)
    g3, _ = _generate(pipe, name, guidance=3.5)
    assert b5 == b1 == [2, 2]                         # one pass per step whatever the scale
    assert len({g5.tobytes(), g1.tobytes(), g3.tobytes()}) == 3


def test_flux_schnell_ignores_guidance_scale_but_honours_true_cfg(pipes):
    pipe = pipes("flux_schnell")
    assert pipe.transformer.config.guidance_embeds is False
    g5, b5 = _generate(pipe, "flux_schnell", guidance=5.0)
    g0, _ = _generate(pipe, "flux_schnell", guidance=0.0)
    assert g5.tobytes() == g0.tobytes() and b5 == [2, 2]
    neg = ["blurry"] * 2
    t1, bt1 = _generate(pipe, "flux_schnell", guidance=0.0, negative_prompt=neg, true_cfg_scale=1.0)
    t4, bt4 = _generate(pipe, "flux_schnell", guidance=0.0, negative_prompt=neg, true_cfg_scale=4.0)
    assert t1.tobytes() == g0.tobytes() and bt1 == [2, 2]
    assert bt4 == [2, 2, 2, 2] and t4.tobytes() != t1.tobytes()   # a positive and a negative pass per step


def test_flux_dev_shifts_its_schedule_schnell_does_not(pipes):
    dev, schnell = pipes("flux_dev"), pipes("flux_schnell")
    _generate(dev, "flux_dev", guidance=3.5)
    _generate(schnell, "flux_schnell", guidance=0.0)
    assert schnell.scheduler.timesteps.tolist() == [1000.0, 500.0]   # sigmas 1, 1/2; shift 1
    assert dev.scheduler.timesteps[0] == 1000.0 and dev.scheduler.timesteps[1] > 500.0


@pytest.mark.parametrize("name, schedulers, four_steps", [
    ("sdxl_turbo", "EulerAncestralDiscreteScheduler", [999, 749, 499, 249]),   # trailing: 1000 - 250 k - 1
    ("sdxl_lcm", "LCMScheduler", [999, 759, 499, 259]),      # of the 50-step grid 999, 979, ..: items 0, 12, 25, 37
])
def test_few_step_models_generate_in_one_step_without_guidance(pipes, name, schedulers, four_steps):
    pipe = pipes(name)
    assert type(pipe.scheduler).__name__ == schedulers
    one, batches = _generate(pipe, name, guidance=0.0, steps=1)
    assert one.shape == (2, SIZE, SIZE, 3) and batches == [2]
    assert pipe.scheduler.timesteps.tolist() == [999]
    again, _ = _generate(pipe, name, guidance=0.0, steps=1)
    assert again.tobytes() == one.tobytes()
    _generate(pipe, name, guidance=0.0, steps=4)
    assert pipe.scheduler.timesteps.tolist() == four_steps


def test_sdxl_refiner_refines_the_base_images(dirs, pipes):
    from diffusers import AutoPipelineForText2Image

    base, _ = _generate(pipes("sdxl"), "sdxl", guidance=5.0)
    refiner = pipes("sdxl_refiner")
    assert refiner.config.requires_aesthetics_score is True and refiner.text_encoder is None
    images = [torch.from_numpy(im).permute(2, 0, 1).float() / 255.0 for im in base]
    out, batches = _generate(refiner, "sdxl_refiner", guidance=5.0, image=images, strength=0.5, steps=4)
    again, _ = _generate(refiner, "sdxl_refiner", guidance=5.0, image=images, strength=0.5, steps=4)
    assert out.shape == (2, SIZE, SIZE, 3) and out.tobytes() == again.tobytes() and out.tobytes() != base.tobytes()
    assert batches == [4, 4]                          # strength 0.5 of 4 steps; CFG doubles the batch
    # text-to-image auto-loading maps the refiner to the base class, whose micro-conditioning it does not fit
    with pytest.raises(ValueError, match="added time embedding"):
        AutoPipelineForText2Image.from_pretrained(str(dirs["sdxl_refiner"]), local_files_only=True)(
            PROMPTS, num_inference_steps=1, output_type="np")


def test_pixart_sigma_needs_resolution_binning_off(pipes):
    with pytest.raises(ValueError, match="Invalid sample size"):
        pipes("pixart_sigma")(PROMPTS[0], num_inference_steps=1, clean_caption=False)


def test_same_arguments_write_the_same_weights(dirs, tmp_path):
    def files(d: Path):
        return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}

    again = files(save_tiny_flux(tmp_path / "dev", seed=0, image_size=SIZE, variant="dev", words=PROMPTS))
    assert again == files(dirs["flux_dev"])
    other = files(save_tiny_sdxl(tmp_path / "lcm", seed=1, image_size=SIZE, variant="lcm"))
    first = files(dirs["sdxl_lcm"])
    assert other.keys() == first.keys()
    assert other["unet/diffusion_pytorch_model.safetensors"] != first["unet/diffusion_pytorch_model.safetensors"]
    assert other["scheduler/scheduler_config.json"] == first["scheduler/scheduler_config.json"]


def test_directory_sizes_stay_small(dirs):
    sizes = {n: sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) for n, d in dirs.items()}
    assert max(sizes.values()) < 25e6, sizes
