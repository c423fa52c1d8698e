"""Every pipeline class of family diffusers generates through Snakemake from a saved local directory
(tiny random pipelines, no network): SDXL with its refiner, SD3, PixArt-Sigma, FLUX.1-dev and -schnell,
SDXL-Turbo and an LCM, each sampled with its stated guidance semantics, at the configured size. The
paper-shaped config (test_paper_path.py) takes an SDXL-class and a FLUX-class model further, through
training, fits and the report."""
import json

import pytest
import yaml
from support.assets_modern import save_tiny_modern
from support.repo import TINY, smk

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]   # seven pipelines load in their jobs: ~2-4 min

SIZE = 16
# model -> (saved directory, refiner, guidance semantics, run guidance, pipeline classes called)
MODELS = {
    "sdxl": ("sdxl", "sdxl_refiner", "cfg", 3, ["StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline"]),
    "sdthree": ("sd3", None, "cfg", 3, ["StableDiffusion3Pipeline"]),
    "pixart": ("pixart_sigma", None, "cfg", 3, ["PixArtSigmaPipeline"]),
    "fluxdev": ("flux_dev", None, "distilled", 3.5, ["FluxPipeline"]),
    "fluxschnell": ("flux_schnell", None, "none", 0, ["FluxPipeline"]),
    "sdxlturbo": ("sdxl_turbo", None, "none", 0, ["StableDiffusionXLPipeline"]),
    "lcm": ("sdxl_lcm", None, "distilled", 4, ["StableDiffusionXLPipeline"]),
}


def test_each_pipeline_class_generates_through_snakemake(tmp_path_factory):
    from synscale.data.shards import read_shard

    tmp = tmp_path_factory.mktemp("modern-classes")
    dirs = save_tiny_modern(tmp / "models", image_size=SIZE)
    cfg = yaml.safe_load(TINY.read_text())
    cfg["results"] = "results/modern"
    for name, (d, refiner, semantics, g, _) in MODELS.items():
        cfg["models"][name] = {"family": "diffusers", "path": str(dirs[d]), "guidance": semantics,
                               "guidance_range": [0, 10] if semantics == "none" else [1, 10],
                               "resolution": SIZE, "steps": 2, "batch_size": 25, "dtype": "float16",
                               **({"refiner_path": str(dirs[refiner]), "refiner_start": 0.5} if refiner else {})}
        cfg["runs"].append({"model": name, "guidance": g, "prompt": "classname", "scales": [100, 200, 400]})
    conf = tmp / "modern.yaml"
    conf.write_text(yaml.safe_dump(cfg))
    runs = {name: f"{name}_cfg{g:g}_classname" for name, (_, _, _, g, _) in MODELS.items()}
    wd = tmp / "wd"
    smk(wd, *(f"results/modern/testsets/{r}.tar" for r in runs.values()), configfile=conf, timeout=1800)
    for name, run in runs.items():
        _, _, semantics, g, classes = MODELS[name]
        man = json.loads((wd / "results" / "modern" / "testsets" / f"{run}.json").read_text())
        smp = man["sampling"]
        assert man["family"] == "diffusers" and [p["class"] for p in smp["pipelines"]] == classes, name
        assert [c["pipeline"] for c in smp["pipeline_calls"]] == classes and smp["guidance"] == semantics
        # the run's value as the pipeline's guidance_scale, or 0 where the model takes none
        assert {c["guidance_scale"] for c in smp["pipeline_calls"]} == {float(g)}
        assert smp["sampled_resolution"] == [SIZE, SIZE] and man["count"] == 50
        assert read_shard(wd / "results" / "modern" / "testsets" / f"{run}.tar", channels=1).images.shape == \
            (50, 16, 16, 1)
    # the refiner takes over the base's latents at refiner_start
    calls = json.loads((wd / "results" / "modern" / "testsets" / f"{runs['sdxl']}.json").read_text())[
        "sampling"]["pipeline_calls"]
    assert calls[0]["denoising_end"] == calls[1]["denoising_start"] == 0.5
    # nothing left to do: the outputs are complete
    p = smk(wd, "-n", *(f"results/modern/testsets/{r}.tar" for r in runs.values()), configfile=conf)
    assert "Nothing to be done" in p.stdout + p.stderr
