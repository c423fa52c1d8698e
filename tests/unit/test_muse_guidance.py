"""Muse's guidance schedule on aMUSEd: the logits every sampling step hands the scheduler are the
unconditional and conditional logits combined at that step's scale (hand-computed), linear differs
from constant in the tokens it samples, and the shard manifests record the schedule, the scheduler
(class and config) and the resolutions."""
import json

import pytest
import torch

from synscale import config as C
from synscale.t2i.guidance import check_schedule, guidance_scales, guidance_steps
from synscale.t2i.samplers import load_sampler

PROMPTS = ["zero", "seven"]
STEPS = 4


@pytest.fixture(scope="module")
def amused(tmp_path_factory):
    from support.assets_families import save_tiny_amused

    return save_tiny_amused(tmp_path_factory.mktemp("amused") / "amused", size=16)


@pytest.fixture(scope="module")
def samplers(amused):
    """The tiny aMUSEd loaded with the family's default schedule and with the constant one."""
    return {"linear": load_sampler("masked_token", [amused], {}, "muse"),
            "constant": load_sampler("masked_token", [amused], {"guidance_schedule": "constant"}, "muse")}


def test_schedules_by_hand():
    # Muse's t rises linearly from 0 (unguided) at the first step to the run's t at the last
    assert guidance_steps(0.3, 4, "linear") == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert guidance_scales(0.3, 4, "linear") == pytest.approx([1.0, 1.1, 1.2, 1.3])
    assert guidance_scales(1.0, 3, "linear") == pytest.approx([1.0, 1.5, 2.0])
    assert guidance_scales(0.3, 4, "constant") == pytest.approx([1.3] * 4)
    assert guidance_scales(0.5, 1, "linear") == pytest.approx([1.5])     # one step samples at t
    with pytest.raises(ValueError, match=r"models\.sd\.guidance_schedule: 'linear' is implemented for the "
                                         r"masked_token family only"):
        check_schedule("linear", "latent_diffusion", "models.sd.guidance_schedule")
    with pytest.raises(ValueError, match=r"models\.muse\.guidance_schedule: unknown guidance schedule 'cosine'"):
        check_schedule("cosine", "masked_token", "models.muse.guidance_schedule")


def _run(sampler, t: float, seed: int = 0):
    """Sample with ``sampler`` and record, per step, the transformer's raw (unconditional,
    conditional) logits, the logits the scheduler received and the tokens it returned."""
    pipe = sampler.pipes[0]
    raw, fed, tokens = [], [], []
    # registered before the sampler's own hook, this one sees the transformer's output unchanged
    handle = pipe.transformer.register_forward_hook(lambda m, a, out: raw.append(out.detach().clone()))
    step = pipe.scheduler.step

    def recording_step(model_output, timestep, sample, **kw):
        fed.append(model_output.detach().clone())
        res = step(model_output=model_output, timestep=timestep, sample=sample, **kw)
        tokens.append(res.prev_sample.clone())
        return res

    pipe.scheduler.step = recording_step
    try:
        images = sampler(prompt=PROMPTS, guidance_scale=t, num_inference_steps=STEPS,
                         generator=torch.Generator().manual_seed(seed)).images
    finally:
        handle.remove()
        del pipe.scheduler.step
    return raw, fed, tokens, images


@pytest.mark.parametrize("schedule,scales", [("linear", [1.0, 1.1, 1.2, 1.3]), ("constant", [1.3] * 4)])
def test_each_step_combines_the_logits_at_its_scale(samplers, schedule, scales):
    sampler = samplers[schedule]
    raw, fed, _, _ = _run(sampler, 0.3)
    assert len(raw) == len(fed) == STEPS
    for i, s in enumerate(scales):
        uncond, cond = raw[i].chunk(2)      # the pipeline stacks the unconditional pass first
        assert raw[i].shape[0] == 2 * len(PROMPTS) and fed[i].shape == uncond.shape
        assert not torch.allclose(uncond, cond)
        torch.testing.assert_close(fed[i], uncond + s * (cond - uncond), rtol=1e-6, atol=1e-5, msg=f"step {i}")
    assert sampler.last_guidance_scales == pytest.approx(scales)
    if schedule == "linear":   # step 0 is unguided: the conditional logits, not the guided ones
        uncond, cond = raw[0].chunk(2)
        torch.testing.assert_close(fed[0], cond, rtol=1e-6, atol=1e-5)
        assert not torch.allclose(fed[0], uncond + 1.3 * (cond - uncond))


def test_linear_and_constant_sample_different_tokens(samplers):
    linear, constant = samplers["linear"], samplers["constant"]
    assert linear.guidance_schedule == "linear"                          # the family's default
    *_, tok_lin, img_lin = _run(linear, 1.0)
    *_, tok_con, img_con = _run(constant, 1.0)
    *_, tok_again, _ = _run(linear, 1.0)
    assert torch.equal(tok_lin[-1], tok_again[-1])                      # deterministic
    assert not torch.equal(tok_lin[-1], tok_con[-1])
    assert (tok_lin[-1] != tok_con[-1]).float().mean() > 0.05
    assert img_lin.tobytes() != img_con.tobytes()


def test_unguided_run_is_the_same_for_both_schedules(samplers):
    lin, con = _run(samplers["linear"], 0.0), _run(samplers["constant"], 0.0)
    assert lin[3].tobytes() == con[3].tobytes()
    assert len(lin[0]) == STEPS and lin[0][0].shape[0] == len(PROMPTS)   # one (conditional) pass per step


def test_the_config_takes_the_schedule_per_family(root):
    cfg = C.validate(C.load_yaml(root / "config" / "paper.yaml"))
    assert {k: m["guidance_schedule"] for k, m in cfg["models"].items()} == \
        {"sd": "constant", "imagen": "constant", "muse": "linear"}
    bad = C.load_yaml(root / "config" / "paper.yaml")
    bad["models"]["sd"]["guidance_schedule"] = "linear"
    with pytest.raises(C.ConfigError, match=r"models\.sd\.guidance_schedule"):
        C.validate(bad)


def test_a_schedule_edit_regenerates_the_shards():
    """The generation jobs' config slice holds the schedule: editing it re-runs them."""
    from synscale.steps.keys import generate

    for testset in (False, True):
        assert "models.muse.guidance_schedule" in generate("muse", testset)


def _muse_shard(tmp_path, root, amused, gpus: int, batch_size: int = 4) -> dict:
    """A twin shard of three captions sampled by the muse model (t = 0.5, 3 steps) on ``gpus`` processes."""
    import pandas as pd

    from synscale.steps.generate import generate_images

    cfg = C.validate(C.load_yaml(root / "tests" / "configs" / "paperlike.yaml"))
    cfg["models"]["muse"].update(batch_size=batch_size, steps=3)
    run = {"name": "muse_cfg0.5_laion", "model": "muse", "guidance": 0.5, "prompt": "laion", "twins": True}
    block = tmp_path / "block-00000.parquet"
    pd.DataFrame({"key": ["a", "b", "c"], "caption": ["one", "two", "three"], "class_index": [-1] * 3,
                  "shard": ["x.tar"] * 3}).to_parquet(block)
    torch.set_num_threads(1)  # as each sampling process runs
    out = tmp_path / f"g{gpus}"
    return generate_images(cfg, run, 0, amused, block, tmp_path / "unused.json", out / "s.tar", out / "s.json",
                           gpus=gpus)


@pytest.mark.slow
def test_sampling_processes_record_the_same_sampler(tmp_path, root, amused):
    """Sampled on two processes (a batch each), the shard and its sampler record are those of one."""
    one = _muse_shard(tmp_path, root, amused, 1, batch_size=2)
    two = _muse_shard(tmp_path, root, amused, 2, batch_size=2)
    assert two["processes"] == 2 and two["sha256"] == one["sha256"]
    assert two["sampling"] == one["sampling"] and one["sampling"]["guidance_scale_per_step"] == [1.0, 1.25, 1.5]


def test_shard_manifest_records_scheduler_schedule_and_resolution(tmp_path, root, amused):
    """A muse shard (16 px aMUSEd, stored at the config's 32 px): its manifest names the pipeline,
    the scheduler's class and config as the directory holds them, diffusers' guidance_scale of every
    step and both resolutions."""
    man = _muse_shard(tmp_path, root, amused, gpus=1)
    assert json.loads((tmp_path / "g1" / "s.json").read_text()) == man
    s = man["sampling"]
    saved = json.loads((amused / "scheduler" / "scheduler_config.json").read_text())
    assert [p["class"] for p in s["pipelines"]] == ["AmusedPipeline"]
    sch = s["pipelines"][0]["scheduler"]
    assert sch["class"] == "AmusedScheduler" == saved["_class_name"]
    assert sch["config"]["mask_token_id"] == 64 and sch["config"]["masking_schedule"] == "cosine"
    assert {k: v for k, v in sch["config"].items() if not k.startswith("_")} == \
        {k: v for k, v in saved.items() if not k.startswith("_")}
    assert s["guidance_schedule"] == "linear"
    assert s["guidance_scale_per_step"] == pytest.approx([1.0, 1.25, 1.5])
    assert s["sampled_resolution"] == [16, 16] and s["stored_resolution"] == [32, 32]
    assert man["guidance_scale"] == 0.5 and man["steps"] == 3
