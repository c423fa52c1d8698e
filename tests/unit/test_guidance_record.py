"""Each run's guidance reaches the pipeline: the generation step of two runs of one model that
differ only in their guidance, for every family, with a spy wrapped around each diffusers pipeline
class's ``__call__``. The pipelines receive the runs' guidance (Muse's t as 1 + t), the steps and, for
the cascade's stage II, its fixed settings; the shard manifest's ``sampling.pipeline_calls`` holds
exactly what the pipelines received, and Muse's per-step schedule rises linearly to 1 + t."""
import pandas as pd
import pytest
import torch

from synscale import config as C

CAPTIONS = ["zero", "seven"]
STEPS = 3


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    from support.assets_families import save_tiny_families

    by_family = save_tiny_families(tmp_path_factory.mktemp("families"), CAPTIONS)
    return {"sd": by_family["latent_diffusion"], "imagen": by_family["pixel_cascade"],
            "muse": by_family["masked_token"]}


@pytest.fixture
def spy(monkeypatch):
    """Every call of a diffusers pipeline in the test: (class, guidance_scale, num_inference_steps,
    noise_level) as the pipeline received them."""
    import diffusers

    seen = []
    for name in ("StableDiffusionPipeline", "IFPipeline", "IFSuperResolutionPipeline", "AmusedPipeline"):
        cls = getattr(diffusers, name)

        def wrapped(self, *args, _orig=cls.__call__, _name=name, **kw):
            seen.append({"pipeline": _name, "guidance_scale": kw.get("guidance_scale"),
                         "num_inference_steps": kw.get("num_inference_steps"), "noise_level": kw.get("noise_level")})
            return _orig(self, *args, **kw)

        monkeypatch.setattr(cls, "__call__", wrapped)
    return seen


@pytest.fixture(autouse=True)
def on_the_cpu(monkeypatch):
    """Sampling on the CPU in float32 wherever the test runs (what is checked is device-free)."""
    import synscale.device

    monkeypatch.setattr(synscale.device, "job_device", lambda: torch.device("cpu"))


def _shard(tmp_path, root, dirs, model: str, guidance: float) -> dict:
    from synscale.steps.generate import generate_images

    cfg = C.validate(C.load_yaml(root / "tests" / "configs" / "paperlike.yaml"))
    cfg["models"][model].update(batch_size=2, steps=STEPS)
    run = {"name": f"{model}_cfg{guidance}_laion", "model": model, "guidance": guidance, "prompt": "laion",
           "twins": True}
    block = tmp_path / "block-00000.parquet"
    pd.DataFrame({"key": ["a", "b"], "caption": CAPTIONS, "class_index": [-1, -1],
                  "shard": ["x.tar"] * 2}).to_parquet(block)
    out = tmp_path / run["name"]
    torch.set_num_threads(1)
    return generate_images(cfg, run, 0, dirs[model], block, tmp_path / "unused.json", out / "s.tar", out / "s.json")


def _recorded(calls):
    return [{k: v for k, v in c.items() if v is not None} for c in calls]


# per model: the guidance of two runs, and the calls each run's batch must make (hand-written)
CASES = {
    "sd": ((2.0, 7.5), lambda g: [{"pipeline": "StableDiffusionPipeline", "guidance_scale": g,
                                   "num_inference_steps": STEPS}]),
    "imagen": ((1.5, 3.0), lambda g: [{"pipeline": "IFPipeline", "guidance_scale": g, "num_inference_steps": STEPS},
                                      {"pipeline": "IFSuperResolutionPipeline", "guidance_scale": 4.0,
                                       "num_inference_steps": 2, "noise_level": 250}]),
    "muse": ((0.5, 1.0), lambda t: [{"pipeline": "AmusedPipeline", "guidance_scale": 1 + t,
                                     "num_inference_steps": STEPS}]),
}
# Muse's linear schedule over 3 steps: 1 + t * (0, 1/2, 1)
MUSE_PER_STEP = {0.5: [1.0, 1.25, 1.5], 1.0: [1.0, 1.5, 2.0]}


@pytest.mark.parametrize("model", list(CASES))
def test_each_runs_guidance_reaches_the_pipeline_and_the_manifest(tmp_path, root, dirs, spy, model):
    (g1, g2), expected = CASES[model]
    got = {}
    for g in (g1, g2):
        spy.clear()
        man = _shard(tmp_path, root, dirs, model, g)
        assert _recorded(spy) == expected(g), (model, g)
        assert man["sampling"]["pipeline_calls"] == expected(g)
        assert man["guidance_scale"] == g and man["steps"] == STEPS
        got[g] = man["sampling"]
    assert got[g1]["pipeline_calls"][0]["guidance_scale"] != got[g2]["pipeline_calls"][0]["guidance_scale"]
    per_step = {g: got[g]["guidance_scale_per_step"] for g in (g1, g2)}
    if model == "muse":
        assert per_step == {g: pytest.approx(MUSE_PER_STEP[g]) for g in (g1, g2)}
    else:
        assert per_step == {g1: [g1] * STEPS, g2: [g2] * STEPS}


def test_the_cascade_encodes_each_prompt_once_for_both_stages(tmp_path, root, dirs, monkeypatch):
    """README (Imagen): the T5 prompt embeddings are computed once, by stage I, and stage II gets the
    same tensors; stage II runs IF's released settings by default (50 steps, guidance 4, noise 250).
    A pipeline runs its text encoder when ``encode_prompt`` gets no ``prompt_embeds``."""
    import diffusers

    encoded, received = [], {}

    def spy_encode(cls):
        orig = cls.encode_prompt

        def encode(self, *args, **kw):
            out = orig(self, *args, **kw)
            if kw.get("prompt_embeds") is None:
                encoded.append(cls.__name__)
                received["encoded"] = out
            return out

        monkeypatch.setattr(cls, "encode_prompt", encode)

    spy_encode(diffusers.IFPipeline)
    spy_encode(diffusers.IFSuperResolutionPipeline)
    orig_sr = diffusers.IFSuperResolutionPipeline.__call__

    def sr_call(self, *args, **kw):
        received["stage_2"] = (kw["prompt_embeds"], kw["negative_prompt_embeds"])
        return orig_sr(self, *args, **kw)

    monkeypatch.setattr(diffusers.IFSuperResolutionPipeline, "__call__", sr_call)
    _shard(tmp_path, root, dirs, "imagen", 2.0)
    # one batch of two prompts: one encoding, by stage I; stage II receives its tensors
    assert encoded == ["IFPipeline"]
    assert received["stage_2"][0] is received["encoded"][0] and received["stage_2"][1] is received["encoded"][1]
    raw = C.load_yaml(root / "tests" / "configs" / "paperlike.yaml")
    assert raw["models"]["imagen"]["family"] == "pixel_cascade"
    for key in ("sr_steps", "sr_guidance", "noise_level"):
        raw["models"]["imagen"].pop(key, None)
    defaults = C.validate(raw)["models"]["imagen"]
    assert (defaults["sr_steps"], defaults["sr_guidance"], defaults["noise_level"]) == (50, 4.0, 250)
