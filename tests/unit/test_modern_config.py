"""config/modern.yaml and the config keys of family diffusers: each model's guidance semantics
validated (no guidance grid and guidance 0 for a model without guidance), the keys of today's
models only on family diffusers, every local path (refiner included) named when missing."""
import copy

import pytest

from synscale import config as C


@pytest.fixture(scope="module")
def modern(root):
    return C.load_yaml(root / "config" / "modern.yaml")


def test_the_modern_grid(modern):
    cfg = C.validate(copy.deepcopy(modern))
    runs = C.runs(cfg)
    assert {m["family"] for m in cfg["models"].values()} == {"diffusers"}
    assert {m: cfg["models"][m]["guidance"] for m in cfg["models"]} == {
        "sdxl": "cfg", "sd35": "cfg", "pixart": "cfg", "fluxdev": "distilled", "fluxschnell": "none",
        "sdxlturbo": "none"}
    # the 1.3M grid: 3 prompt sets x 4 guidance values for the four models with guidance, 3 for the others
    grid = [r for r in runs.values() if not r.is_real and 1_300_000 in r.scales]
    assert len(grid) == 4 * 3 * 4 + 2 * 3
    scaled = {r.model: max(r.scales) for r in runs.values() if not r.is_real and max(r.scales) > 1_300_000}
    assert scaled == {"sdxl": 8_000_000, "sd35": 8_000_000, "pixart": 8_000_000, "fluxdev": 64_000_000,
                      "fluxschnell": 8_000_000, "sdxlturbo": 8_000_000}
    assert all(r.guidance == 0 for r in runs.values() if r.model in ("fluxschnell", "sdxlturbo"))
    missing = C.missing_paths(cfg)
    assert missing["models.sdxl.refiner_path"] == ["/models/stable-diffusion-xl-refiner-1.0"]
    assert missing["models.fluxdev.path"] == ["/models/FLUX.1-dev"]


def test_a_model_without_guidance_takes_no_guidance_grid_and_runs_at_zero(modern):
    cfg = copy.deepcopy(modern)
    cfg["grid"] = {"guidance": {"fluxschnell": [1, 2]}, "prompts": ["classname"], "include_runs": True}
    with pytest.raises(C.ConfigError, match=r"config key 'grid\.guidance\.fluxschnell': model 'fluxschnell' takes "
                                            r"no guidance \(models\.fluxschnell\.guidance: none\)"):
        C.validate(cfg)
    cfg = copy.deepcopy(modern)
    cfg["models"]["fluxschnell"]["guidance_range"] = [0, 4]
    i = next(i for i, r in enumerate(cfg["runs"]) if r["model"] == "fluxschnell")
    cfg["runs"][i]["guidance"] = 2
    with pytest.raises(C.ConfigError, match=rf"config key 'runs\[{i}\]\.guidance': model 'fluxschnell' takes no "
                                            r"guidance .*use guidance 0"):
        C.validate(cfg)


@pytest.mark.parametrize("key, value, message", [
    ("refiner_path", "/models/refiner", r"'models\.sd\.refiner_path': only for family diffusers"),
    ("guidance", "distilled", r"'models\.sd\.guidance': family latent_diffusion takes cfg only"),
    ("resolution", 512, r"'models\.sd\.resolution': only for family diffusers"),
])
def test_keys_of_todays_models_only_on_family_diffusers(root, key, value, message):
    cfg = C.load_yaml(root / "config" / "paper.yaml")
    cfg["models"]["sd"][key] = value
    with pytest.raises(C.ConfigError, match=message):
        C.validate(cfg)


def test_guidance_semantics_is_one_of_three(modern):
    cfg = copy.deepcopy(modern)
    cfg["models"]["sdxl"]["guidance"] = "classifier-free"
    with pytest.raises(C.ConfigError, match=r"models.*sdxl.*guidance"):
        C.validate(cfg)


def test_every_sampling_key_of_a_model_is_in_the_generate_rules_params(root):
    """A model key the sampler reads must re-run the model's shards when edited: every key a model section
    may hold (config/schema.yaml) is a weight path (an input), its guidance range (checked against the
    runs), its tiny training section (rule train_t2i), or in the generate rules' config slice."""
    import yaml

    from synscale.config.names import MODEL_PATH_KEYS
    from synscale.steps.keys import PER_MODEL, generate

    schema = yaml.safe_load((root / "config" / "schema.yaml").read_text())
    keys = set(schema["properties"]["models"]["additionalProperties"]["properties"])
    paths = {k for ks in MODEL_PATH_KEYS.values() for k in ks}
    assert keys - paths - {"guidance_range", "train"} == set(PER_MODEL)
    assert {"models.flux.guidance", "models.flux.resolution", "models.flux.scheduler"} <= set(generate("flux", False))
