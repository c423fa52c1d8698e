"""The paper path in miniature: a config shaped like config/paper.yaml (webdataset shards written
by a fixture, external weight directories, a timm state-dict reference classifier, BLIP-2 and T5
prompt models, OOD sets named by their config keys, one of them a masked class subset) runs the
whole DAG through the same rules and package code a cluster user's config takes."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support.repo import smk

pytestmark = pytest.mark.slow

TIMEOUT = 3000   # seconds for one snakemake call on the paper-shaped config (about 10 min on 2 idle cores)


@pytest.fixture(scope="module")
def built(paperlike_config, tmp_path_factory):
    wd = tmp_path_factory.mktemp("paperlike-run")
    smk(wd, configfile=paperlike_config, timeout=TIMEOUT)
    smk(wd, "results/paperlike/grid/summary.csv", "results/paperlike/scaling/summary.csv", configfile=paperlike_config,
        timeout=TIMEOUT)
    return wd, wd / "results" / "paperlike", paperlike_config


def _cfg(path):
    from synscale import config as C

    return C.validate(C.load_yaml(path))


def test_linear_probe_on_a_torchvision_root_and_ood_fits(built):
    """Every evaluation probes the classifier on the DTD-layout root with torchvision's DTD class;
    every fit holds one OOD fit (loss and error) per OOD set."""
    wd, res, cfgfile = built
    e = json.loads((res / "eval" / "sd_cfg2_incap" / "n80.json").read_text())
    p = e["probes"]["dtd"]
    # Table A2's DTD: partition 1, trained on train + val (48 + 48) after C is chosen on val, scored by top-1
    assert p["kind"] == "torchvision" and p["n_train"] == 96 and p["n_val"] == 48 and p["n_test"] == 48
    assert p["n_classes"] == 4 and p["metric"] == "top1"
    assert 0 <= p["top1"] <= 1 and e["probe_average"] == p["score"] == p["top1"]
    fit = json.loads((res / "scaling" / "sd_cfg2_incap.json").read_text())
    assert set(fit["ood_fits"]) == {"digits_full", "digits_subset"}
    for name, f in fit["ood_fits"].items():
        losses = [pt["ood"][name]["loss"] for pt in fit["points"]]
        assert f["loss"]["n_points"] == 3 and np.isfinite(f["loss"]["k"]), (name, losses)


def test_scaling_jsons_from_the_webdataset_branch(built):
    wd, res, cfgfile = built
    cfg = _cfg(cfgfile)
    for run, scales in (("sd_cfg2_incap", [40, 80, 160]), ("real", [60, 120, 240])):
        fit = json.loads((res / "scaling" / f"{run}.json").read_text())
        assert fit["run"] == run and fit["fit_scales"] == scales and fit["reference_scale_D_I"] == 240
        assert [p["scale"] for p in fit["points"]] == scales
        assert fit["k_ci"][0] <= fit["k"] <= fit["k_ci"][1] and 0 <= fit["r2"] <= 1
        for p in fit["points"]:
            # OOD sets keep their config keys as names
            assert set(p["ood"]) == {"digits_full", "digits_subset"}
            assert p["val_loss"] > 0 and 0 <= p["val_top1"] <= 1
        assert len(fit["per_class"]) == 4
        assert fit["provenance"]["results"] == "results/paperlike"
    fit = json.loads((res / "scaling" / "sd_cfg2_incap.json").read_text())
    assert (fit["model"], fit["guidance"], fit["prompt"]) == ("sd", 2, "incap")
    assert 0 <= fit["quality"]["recognizability"] <= 1 and len(fit["quality"]["per_class_diversity"]) == 4
    # a single-scale run stops at its evaluation
    assert json.loads((res / "eval" / "sd_cfg2_word2sen" / "n80.json").read_text())["val"]["n"] == 80
    assert not (res / "scaling" / "sd_cfg2_word2sen.json").exists()
    assert cfg["results"] == "results/paperlike" and not (wd / "results" / "scaling").exists()


def test_external_weights_and_prompt_models_were_used(built):
    wd, res, cfgfile = built
    cfg = _cfg(cfgfile)
    # the reference classifier is the configured timm state dict
    assert (res / "reference" / "model.pt").resolve() == Path(cfg["reference_classifier"]["path"]).resolve()
    # measured with its timm pretrained_cfg normalisation, and every quality measure fed it the same
    ref = json.loads((res / "reference" / "metrics.json").read_text())
    assert "pretrained_cfg of resnet10t" in ref["normalization"]["source"]
    quality = sorted((res / "quality").glob("*.json")) + sorted((res / "quality").glob("*/per_class_fid.json"))
    assert len(quality) >= 12
    for q in quality:
        assert json.loads(q.read_text())["reference"]["normalization"] == ref["normalization"], q
    # shards come from the external SD pipeline, with the configured sampling
    man = json.loads((res / "shards" / "sd_cfg2_incap" / "shard-00003.json").read_text())
    assert man["model_dir"] == cfg["models"]["sd"]["path"] and man["count"] == 40 and man["steps"] == 2
    assert man["class_counts"] == {str(c): 10 for c in range(4)}
    # incap: BLIP-2 captions of the real train shards, two shards per caption job
    captions = sorted((res / "captions").glob("train-*.parquet"))
    assert len(captions) == 2
    incap = json.loads((res / "prompts" / "incap.json").read_text())
    assert incap["models"]["captioner"]["test_model"] is True and incap["n_prompts"] == 240
    w2s = json.loads((res / "prompts" / "word2sen.json").read_text())
    assert w2s["per_class_max"] <= 5 and w2s["per_class_min"] >= 1 and "word2sen" in w2s["test_models"]


def test_three_families_generate_from_their_saved_pipelines(built):
    """Imagen's analogue (an IF cascade, stage I at 16 px, stage II to 32 px) and Muse's (aMUSEd)
    generate their shards and test sets from the external directories, like Stable Diffusion."""
    from synscale.data.shards import read_shard

    wd, res, cfgfile = built
    cfg = _cfg(cfgfile)
    for run, family, dirs in (("imagen_cfg1.5_classname", "pixel_cascade", [cfg["models"]["imagen"]["path"],
                                                                           cfg["models"]["imagen"]["sr_path"]]),
                              ("muse_cfg0.3_classname", "masked_token", [cfg["models"]["muse"]["path"]]),
                              ("sd_cfg2_incap", "latent_diffusion", [cfg["models"]["sd"]["path"]])):
        man = json.loads((res / "shards" / run / "shard-00000.json").read_text())
        assert man["family"] == family and man["model_dirs"] == dirs and man["count"] == 40
        assert read_shard(res / "shards" / run / "shard-00000.tar", channels=3).images.shape == (40, 32, 32, 3)
        q = json.loads((res / "quality" / f"{run}.json").read_text())
        assert q["n_images"] == 20 and 0 <= q["recognizability"] <= 1
        # FID on Inception-v3 features from the local weights file, LPIPS on the local SqueezeNet
        assert q["fid_feature_space"].startswith("inception-v3") and q["fid"] > 0
        assert q["lpips_feature_space"] == "squeeze (torchmetrics LPIPS)" and q["lpips"] > 0
        assert len(q["per_class_lpips"]) == 4 and q["lpips_pairs_per_class"] == 10
        # per-class FID as App. G.4: a run's first training images of each class against the real ones
        pc = json.loads((res / "quality" / run / "per_class_fid.json").read_text())
        assert len(pc["per_class_fid"]) == 4 and pc["fid_feature_space"].startswith("inception-v3")
        assert json.loads((res / "eval" / run / "n40.json").read_text())["val"]["n"] == 80


def test_todays_models_run_through_the_workflow(built):
    """An SDXL-class and a FLUX.1-dev-class pipeline (family diffusers) from their saved directories:
    shards at the stored size with each model's guidance semantics and cached text embeddings in the
    manifest, quality, three trained scales, a fit, and the report's comparison across eras."""
    import numpy as np
    import pandas as pd

    from synscale.data.shards import read_shard

    wd, res, cfgfile = built
    cfg = _cfg(cfgfile)
    expect = {"sdxl_cfg4_classname": ("sdxl", "StableDiffusionXLPipeline", "cfg", 4.0, [32, 32]),
              "flux_cfg3.5_classname": ("flux", "FluxPipeline", "distilled", 3.5, [16, 16])}
    for run, (model, cls, semantics, g, sampled) in expect.items():
        man = json.loads((res / "shards" / run / "shard-00001.json").read_text())
        assert man["family"] == "diffusers" and man["model_dirs"] == [cfg["models"][model]["path"]]
        assert read_shard(res / "shards" / run / "shard-00001.tar", channels=3).images.shape == (40, 32, 32, 3)
        smp = man["sampling"]
        assert smp["pipelines"][0]["class"] == cls and smp["guidance"] == semantics
        assert smp["sampled_resolution"] == sampled and smp["stored_resolution"] == [32, 32]
        assert {c["guidance_scale"] for c in smp["pipeline_calls"]} == {g}
        assert {c["text"] for c in smp["pipeline_calls"]} == {"prompt_embeds"}
        # one prompt per class: 4 distinct prompts, encoded once by the process sampling the batch
        assert smp["text_embeddings"][0]["prompts_distinct"] == 4 and smp["text_embeddings"][0]["cached"]
        q = json.loads((res / "quality" / f"{run}.json").read_text())
        assert q["n_images"] == 20 and 0 <= q["recognizability"] <= 1 and q["fid"] > 0
        fit = json.loads((res / "scaling" / f"{run}.json").read_text())
        assert [p["scale"] for p in fit["points"]] == [40, 80, 160]
        slope = np.polyfit(np.log([p["scale"] for p in fit["points"]]),
                           np.log([p["val_loss"] for p in fit["points"]]), 1)[0]
        assert fit["k"] == pytest.approx(-slope, rel=1e-6)
    eras = pd.read_csv(res / "report" / "eras.csv").set_index("model")
    for run, (model, _, semantics, _, _) in expect.items():
        fit = json.loads((res / "scaling" / f"{run}.json").read_text())
        row = eras.loc[model]
        assert (row["run"], row["guidance_meaning"], row["source"]) == (run, semantics, "measured here")
        assert row["k"] == pytest.approx(fit["k"], rel=1e-5)
        assert row["neg_log_L_at_DI"] == pytest.approx(fit["neg_log_L_at_DI"], rel=1e-5)
    # the paper's three models, labelled as its numbers: -ln of its ImageNet val loss at 1.3M, no k
    paper = eras[eras["source"].str.startswith("the paper")]
    assert sorted(paper.index) == ["Imagen", "Muse", "Stable Diffusion 1.5"]
    assert paper.loc["Imagen", "neg_log_L_at_DI"] == pytest.approx(-np.log(1.78)) and paper["k"].isna().all()
    assert (res / "report" / "era_plane.png").stat().st_size > 10_000
    assert (res / "report" / "era_scaling.png").stat().st_size > 10_000


def test_guidance_grid_and_scaling_summary(built):
    """The grid section's configs get test sets and quality (sharing those of a scaling run of the
    same name), summarised with Spearman correlations; the scaling summary has a row per fitted run."""
    import pandas as pd

    wd, res, cfgfile = built
    grid = pd.read_csv(res / "grid" / "summary.csv")
    assert sorted(grid["run"]) == sorted(["sd_cfg2_classname", "sd_cfg4_classname", "imagen_cfg1.5_classname",
                                          "muse_cfg0.3_classname", "muse_cfg1_classname", "sdxl_cfg4_classname",
                                          "flux_cfg3.5_classname"])
    fam = dict(zip(grid["model"], grid["family"]))
    assert fam == {"sd": "latent_diffusion", "imagen": "pixel_cascade", "muse": "masked_token",
                   "sdxl": "diffusers", "flux": "diffusers"}
    assert grid["recognizability"].between(0, 1).all() and (grid["n_images"] == 20).all()
    assert {"fid", "lpips"} <= set(grid.columns) and (grid["fid"] > 0).all()
    q = json.loads((res / "quality" / "imagen_cfg1.5_classname.json").read_text())
    assert grid.set_index("run").loc["imagen_cfg1.5_classname", "recognizability"] == pytest.approx(
        q["recognizability"], abs=1e-5)
    summary = json.loads((res / "grid" / "summary.json").read_text())
    assert set(summary["spearman_guidance"]) == {"sd", "imagen", "muse", "sdxl", "flux"}
    assert summary["spearman_guidance"]["sd"]["all"]["recognizability"]["n"] == 2
    assert (res / "grid" / "summary.png").stat().st_size > 10_000
    scaling = pd.read_csv(res / "scaling" / "summary.csv")
    assert sorted(scaling["run"]) == ["flux_cfg3.5_classname", "real", "sd_cfg2_incap", "sdxl_cfg4_classname"]
    fit = json.loads((res / "scaling" / "sd_cfg2_incap.json").read_text())
    row = scaling.set_index("run").loc["sd_cfg2_incap"]
    assert row["k"] == pytest.approx(fit["k"], rel=1e-5) and row["family"] == "latent_diffusion"


def test_per_class_analysis_of_the_fitted_run(built):
    wd, res, cfgfile = built
    a = json.loads((res / "analysis" / "sd_cfg2_incap.json").read_text())
    assert a["n_classes"] == 4 and sum(len(v) for v in a["groups"].values()) == 4
    assert set(a["correlations_with_k"]) >= {"recognizability", "diversity", "fid", "lpips", "top1_at_largest"}
    assert a["real"]["largest_scale"] == 240 and "k_real" in a["classes"][0]
    assert (res / "analysis" / "sd_cfg2_incap.png").stat().st_size > 10_000


def test_class_subset_logits_are_masked(built):
    """The OOD set covering classes 1 and 3 is scored over those two classes only."""
    from synscale.data.shards import read_shards
    from synscale.train.classifier import load_checkpoint

    wd, res, cfgfile = built
    cfg = _cfg(cfgfile)
    ev = json.loads((res / "eval" / "real" / "n240.json").read_text())
    sub = ev["ood"]["digits_subset"]
    assert sub["class_subset"] == 2 and ev["ood"]["digits_full"]["class_subset"] is None
    assert sub["per_class_top1"][0] is None and sub["per_class_top1"][2] is None
    # recompute by hand from the checkpoint
    from braceexpand import braceexpand
    from PIL import Image

    from synscale.data.loader import eval_transform

    data = read_shards(list(braceexpand(cfg["data"]["ood"]["digits_subset"]["shards"])), size=32, channels=3)
    cc = cfg["classifier"]
    model = load_checkpoint(res / "checkpoints" / "real" / "n240" / "model.pt", cc["arch"], 4, 3, cc["kwargs"])
    tf = eval_transform(28, 3, 0.875)  # resize 32, centre crop 28
    with torch.no_grad():
        lg = model(torch.stack([tf(Image.fromarray(im)) for im in data.images]))
    masked = lg[:, [1, 3]]
    y = torch.as_tensor(np.where(data.labels == 1, 0, 1))
    loss = torch.nn.functional.cross_entropy(masked, y).item()
    assert sub["loss"] == pytest.approx(loss, rel=1e-4)
    top1 = float((masked.argmax(1) == y).float().mean())
    assert sub["top1"] == pytest.approx(top1)
    # unmasked, the loss would be larger: the other classes take probability mass
    full = torch.nn.functional.cross_entropy(lg, torch.as_tensor(data.labels)).item()
    assert full > loss


def test_training_ran_the_recipe_on_two_processes(built):
    """classifier.gpus: 2 through a real snakemake run: torchrun starts 2 gloo CPU processes, each
    taking 8 images per pass and accumulating 2 passes per step of the global batch of 32."""
    wd, res, cfgfile = built
    info = json.loads((res / "checkpoints" / "real" / "n240" / "train.json").read_text())
    assert info["processes"] == 2 and info["accumulation"] == 2 and info["micro_batch"] == 8
    assert info["global_batch"] == 32 and info["resumed_from"] == 0
    assert info["recipe"]["loss"] == "bce" and info["recipe"]["mixup"] == 0.5
    assert info["kwargs"]["drop_path_rate"] == 0.1 and info["kwargs"]["proj_drop_rate"] == 0.1
    log = (wd / "results" / "paperlike" / "logs" / "train" / "real" / "n240.log").read_text()
    assert "launching 1 x 2 processes" in log and "torch.distributed.run" in log
    assert not list((res / "checkpoints").rglob("*.resume")) and not list((res / "checkpoints").rglob("*.job.json"))


def test_gpu_jobs_record_the_device_they_ran_on(built):
    """Every job of a GPU-requesting rule records the device its models ran on and the dtype it ran
    in: on a GPU the one its config key sets (models.sd.dtype float16, reference_classifier.amp,
    classifier.amp bfloat16) and the GPU's name; on the CPU float32 whatever the key says."""
    from synscale.device import job_device

    wd, res, cfgfile = built
    cfg = _cfg(cfgfile)
    here = job_device()
    gpu = here.type == "cuda"
    outputs = {res / "shards" / "sd_cfg2_incap" / "shard-00000.json": cfg["models"]["sd"]["dtype"],
               res / "testsets" / "sd_cfg2_incap.json": cfg["models"]["sd"]["dtype"],
               res / "quality" / "sd_cfg2_incap.json": cfg["reference_classifier"]["amp"],
               res / "eval" / "real" / "n60.json": cfg["classifier"]["amp"],
               res / "checkpoints" / "sd_cfg2_incap" / "n40" / "train.json": cfg["classifier"]["amp"]}
    assert cfg["models"]["sd"]["dtype"] == "float16" and cfg["classifier"]["amp"] == "bfloat16"
    for p, key_dtype in outputs.items():
        d = json.loads(p.read_text())
        assert (d["device"], d["dtype"]) == (str(here), key_dtype if gpu else "float32"), p
        assert d.get("gpu") == (torch.cuda.get_device_name(here) if gpu else None), p


def test_a_run_with_its_own_classifier_shares_the_images(built):
    wd, res, cfgfile = built
    ev = json.loads((res / "eval" / "sd_cfg2_incap-wide" / "n80.json").read_text())
    assert ev["run"] == "sd_cfg2_incap-wide" and ev["val"]["n"] == 80
    info = json.loads((res / "checkpoints" / "sd_cfg2_incap-wide" / "n80" / "train.json").read_text())
    assert info["arch"] == "vit_tiny_patch16_224" and info["kwargs"]["embed_dim"] == 48 and info["processes"] == 1
    assert not (res / "shards" / "sd_cfg2_incap-wide").exists()  # trained on sd_cfg2_incap's shards
    assert not (res / "quality" / "sd_cfg2_incap-wide.json").exists()


def test_report_renders_in_headless_chromium(built, tmp_path):
    """The built report, opened in headless Chromium: every category of the report holds its figures,
    each renders as an image, and the summary table renders with the paper's values beside the
    measured ones."""
    from selenium.webdriver.common.by import By
    from support.browser import chromium, open_category, show

    wd, res, cfgfile = built
    html = wd / "report.html"
    smk(wd, "--report", str(html), configfile=cfgfile, timeout=TIMEOUT)
    d = chromium()
    try:
        d.get(html.as_uri())
        # result rows show their labels: model, guidance, prompt set, figure
        expected = {"1 Scaling": ["scaling curves", "out-of-distribution scaling", "sd 2 incap", "real"],
                    "2 Quality": ["quality plane"],
                    "3 Samples": ["imagen 1.5 classname", "muse 0.3 classname", "sd 2 incap"],
                    "4 Per-class analysis": ["sd 2 incap"],
                    "6 CLIP": ["CLIP", "syn+real", "zero-shot scaling", "Fig. 9", "Table A11"]}
        for cat, names in expected.items():
            d.get(html.as_uri())
            rows = open_category(d, cat)
            text = " ".join(r.text for r in rows)
            for n in names:
                assert n in text, (cat, n, text)
            for i in range(len(rows)):
                d.get(html.as_uri())
                el = show(d, open_category(d, cat)[i])
                assert el.tag_name == "img" and int(el.get_attribute("naturalWidth")) > 100, (cat, i)
        d.get(html.as_uri())
        frame = show(d, open_category(d, "0 Summary")[0])
        assert frame.tag_name == "iframe"
        d.switch_to.frame(frame)
        table = d.find_element(By.CSS_SELECTOR, "table.summary")
        header = [th.text for th in table.find_elements(By.TAG_NAME, "th")]
        assert {"run", "k", "k_ci_low", "neg_log_L_at_DI", "r2", "fid", "lpips"} <= set(header)
        rows = {tr.find_elements(By.TAG_NAME, "td")[0].text: [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                for tr in table.find_elements(By.TAG_NAME, "tr")[1:]}
        assert {"sd_cfg2_incap", "real", "imagen_cfg1.5_classname"} <= set(rows)
        # 4 classes are not the paper's ImageNet-1k: none of its numbers stands beside these, and the
        # page says why
        assert not [h for h in header if h.startswith("paper_")]
        assert "not ImageNet-1k" in d.find_element(By.TAG_NAME, "body").text
        # across eras: the table (today's models beside the paper's, labelled) and the plane
        d.switch_to.default_content()
        d.get(html.as_uri())
        kinds = {}
        for i in range(len(open_category(d, "9 Across eras"))):
            d.get(html.as_uri())
            el = show(d, open_category(d, "9 Across eras")[i])
            kinds[el.tag_name] = el
            if el.tag_name == "iframe":
                d.switch_to.frame(el)
                body = d.find_element(By.TAG_NAME, "body").text
                for text in ("sdxl_cfg4_classname", "flux_cfg3.5_classname", "distilled", "Stable Diffusion 1.5",
                             "the paper (ImageNet-1k"):
                    assert text in body, text
                d.switch_to.default_content()
            else:
                assert el.tag_name == "img" and int(el.get_attribute("naturalWidth")) > 100
        assert sorted(kinds) == ["iframe", "img"] and len(open_category(d, "9 Across eras")) == 3
    finally:
        d.quit()


def test_nothing_pending_after_build(built):
    wd, _, cfgfile = built
    assert "Nothing to be done" in smk(wd, "-n", configfile=cfgfile, timeout=TIMEOUT).stdout


def test_clip_study_on_a_laion_shaped_caption_set(built):
    """The three arms at three caption scales on jpg + txt shards (no classes), twins made by the
    generation rule from the caption blocks on two processes, CLIP trained on two processes with
    Table A3's recipes switched by scale, zero-shot on val, OOD (one a class subset) and DTD, fitted."""
    wd, res, cfgfile = built
    clip = res / "clip"
    block = json.loads((clip / "captions" / "laion" / "block-00000.json").read_text())
    assert block["count"] == 80 and len(block["shards"]) == 2
    import pandas as pd

    caps = pd.read_parquet(clip / "captions" / "laion" / "block-00001.parquet")
    # the twins: one image per caption, same keys and captions, in order
    from synscale.data.shards import iter_shard

    twin = list(iter_shard(res / "shards" / "sd_cfg1.5_laion" / "shard-00001.tar"))
    assert [t[0] for t in twin] == caps["key"].tolist() and [t[3] for t in twin] == caps["caption"].tolist()
    man = json.loads((res / "shards" / "sd_cfg1.5_laion" / "shard-00001.json").read_text())
    assert man["processes"] == 2 and man["count"] == 80
    # where each of the block's two source shards' twins start: each training process reads its own
    assert [(p["first"], p["count"]) for p in man["source_parts"]] == [(0, 40), (40, 40)]
    assert man["source_parts"][0]["offset"] == 0 < man["source_parts"][1]["offset"]
    for arm, run in (("real", "real_laion"), ("syn", "syn_sd_cfg1.5_laion"), ("syn+real", "synreal_sd_cfg1.5_laion")):
        fit = json.loads((clip / "scaling" / f"{arm}.json").read_text())
        assert fit["run"] == run and [p["captions"] for p in fit["points"]] == [80, 160, 240]
        assert np.isfinite(fit["k"]) and fit["k_ci_boot"][0] <= fit["k_ci_boot"][1]
        for n, recipe, steps in ((80, "S", 10), (240, "L", 15)):
            t = json.loads((clip / "checkpoints" / run / f"n{n}" / "train.json").read_text())
            assert t["recipe"]["name"] == recipe and t["steps"] == steps and t["processes"] == 2
            assert t["captions"] == n and t["provenance"]["git_commit"]
        e = json.loads((clip / "eval" / run / "n240.json").read_text())
        assert e["templates"] == 7 and e["val"]["n"] == 80 and 0 <= e["val"]["top1"] <= 1 and e["tau"] > 0
        assert set(e["ood"]) == {"digits_full", "digits_subset"} and set(e["probes"]) == {"dtd"}
        assert e["downstream_sets"] == ["dtd"] and e["downstream_average"] == e["probes"]["dtd"]["top1"]
    summary = pd.read_csv(clip / "summary.csv")
    assert len(summary) == 9 and set(summary["arm"]) == {"real", "syn", "syn+real"}
    sweep = pd.read_csv(clip / "cfg_sweep.csv")
    assert sweep["guidance"].tolist() == [1.5, 4.0] and (sweep["captions"] == 80).all()
    assert (clip / "summary.png").stat().st_size > 0 and (clip / "cfg_sweep.png").stat().st_size > 0
