"""The CLIP study's fit range (the paper fits 1M-64M captions, below the S -> L switch at 100M), the
CFG sweep's guidances (Table A11), Table A10's recipe runs and its table, and Fig. A15's rows."""
import json
import math

import numpy as np
import pytest

from synscale import config as C
from synscale.clip import study as S
from synscale.config.recipes import pick_recipe

PAPER_SCALES = [1_000_000 * 2 ** i for i in range(9)] + [371_000_000]


def _cfg(root, name):
    return C.validate(C.load_yaml(root / name))


def test_the_paper_fits_1m_to_64m_below_the_recipe_switch(root):
    cfg = _cfg(root, "config/paper.yaml")
    st, recipes = cfg["clip"]["study"], cfg["clip"]["train"]["recipes"]
    sel = S.fit_selection(st, recipes, cfg["fit"]["min_points"])
    assert sel["fit_range"] == [1_000_000, 64_000_000]
    assert sel["scales"] == [1_000_000 * 2 ** i for i in range(7)]  # 1M, 2M, ... 64M
    assert sel["fit_recipes"] == ["S"] and not sel["crosses_recipe_switch"]
    assert sel["recipes"]["64000000"] == "S" and sel["recipes"]["128000000"] == "L"
    # the default (null) picks the same scales: those of the smallest scale's recipe
    default = S.fit_selection({**st, "fit_range": None}, recipes, 3)
    assert default["scales"] == sel["scales"] and "100000000" in default["rule"]


def test_the_embedded_default_fits_all_its_scales(root):
    cfg = _cfg(root, "config/config.yaml")
    sel = S.fit_selection(cfg["clip"]["study"], cfg["clip"]["train"]["recipes"], cfg["fit"]["min_points"])
    assert sel["scales"] == [500, 1000, 2000, 4000] and sel["fit_recipes"] == ["S-tiny"]


def test_a_range_across_the_switch_is_recorded_and_too_few_points_refused(root):
    cfg = _cfg(root, "tests/configs/paperlike.yaml")
    sel = S.fit_selection(cfg["clip"]["study"], cfg["clip"]["train"]["recipes"], 3)
    assert sel["scales"] == [80, 160, 240] and sel["fit_recipes"] == ["L", "S"] and sel["crosses_recipe_switch"]
    with pytest.raises(ValueError, match=r"clip\.study\.fit_range.*2 of the CLIP study's scales"):
        S.fit_selection({**cfg["clip"]["study"], "fit_range": None}, cfg["clip"]["train"]["recipes"], 3)
    with pytest.raises(ValueError, match=r"clip\.study\.fit_range.*lo <= hi"):
        S.fit_selection({**cfg["clip"]["study"], "fit_range": [240, 80]}, cfg["clip"]["train"]["recipes"], 3)


def test_the_cfg_sweep_uses_table_a11s_guidances(root):
    for name in ("config/paper.yaml", "config/config.yaml"):
        assert _cfg(root, name)["clip"]["cfg_sweep"]["guidance"] == [1.25, 1.5, 1.75, 2.5], name


def _write_evals(tmp_path, cfg, scales, loss):
    paths = []
    for s in scales:
        e = {"scale": s, "captions": s, "val": {"loss": loss(s), "top1": 0.5}, "tau": 50.0,
             "downstream_average": 0.3, "ood": {}, "probes": {"gtsrb": {"top1": 0.2}},
             "provenance": {"results": cfg["results"]}}
        p = tmp_path / f"n{s}.json"
        p.write_text(json.dumps(e))
        paths.append(str(p))
    return paths


def test_the_clip_fit_uses_only_the_fit_range(tmp_path, root):
    """An exact power law L = 3 (D / 1M)^-0.25 up to 64M, flat at its 64M value beyond (the bend
    the paper sees): fitted over 1M-64M, k is 0.25 and R^2 is 1; every scale stays a point."""
    from synscale.steps.clip import fit_arm

    cfg = _cfg(root, "config/paper.yaml")
    cfg["results"] = str(tmp_path)

    def loss(s):
        return 3.0 * (min(s, 64_000_000) / 1e6) ** -0.25

    out = fit_arm(cfg, "real", "real_laion400m", _write_evals(tmp_path, cfg, PAPER_SCALES, loss),
                  str(tmp_path / "real.json"), str(tmp_path / "real.png"))
    assert out["k"] == pytest.approx(0.25, abs=1e-9) and out["r2"] == pytest.approx(1.0, abs=1e-9)
    assert out["fit_scales"] == PAPER_SCALES[:7] and out["fit_range"] == [1_000_000, 64_000_000]
    assert out["reference_scale_D_I"] == 1_000_000 and not out["crosses_recipe_switch"]
    assert [p["in_fit"] for p in out["points"]] == [True] * 7 + [False] * 3
    assert [p["recipe"] for p in out["points"]][-3:] == ["L", "L", "L"]
    # the broken law sees every scale: the bend at 64M, flat after it
    assert out["broken"]["n_points"] == 10 and out["broken"]["knee_scale"] == pytest.approx(64e6, rel=0.05)
    assert out["broken"]["k_after"] == pytest.approx(0.0, abs=0.01)
    saved = json.loads((tmp_path / "real.json").read_text())
    assert saved["fit_rule"] and saved["provenance"]["results"] == str(tmp_path)
    # over all ten scales (the fit before clip.study.fit_range) the flat tail pulls the slope down
    slope = np.polyfit(np.log(PAPER_SCALES), np.log([loss(s) for s in PAPER_SCALES]), 1)[0]
    assert -slope < 0.2


def test_table_a10_runs_train_one_recipe_at_every_scale(root):
    """Table A3's S at 100M (batch 8192, warm-up 2,000, ceil(32 x 100M / 8192) steps) and L at 10M
    (batch 32768, lr 5e-4), both from the same initial weights, on ViT-B/32."""
    clip = _cfg(root, "config/paper.yaml")["clip"]
    s, big = S.recipe_run(clip, "S"), S.recipe_run(clip, "L")
    assert s["name"] == "real_laion400m_recipe-S" and s["arm"] == "real" and s["twins"] is None
    assert s["model"]["name"] == "ViT-B-32" and s["seed_parts"] == big["seed_parts"]
    r = pick_recipe(S.run_train_section(clip, s), 100_000_000)
    assert (r.name, r.batch_size, r.warmup, r.steps) == ("S", 8192, 2000, math.ceil(32 * 100_000_000 / 8192))
    r = pick_recipe(S.run_train_section(clip, big), 10_000_000)
    assert (r.name, r.batch_size, r.lr, r.weight_decay) == ("L", 32768, 5e-4, 0.2)
    assert S.run_train_section(clip, {"name": "x"}) is clip["train"]  # a study run: recipes by scale
    with pytest.raises(ValueError, match=r"clip\.recipe_study\.recipes"):
        S.recipe_study({**clip, "recipe_study": {**clip["recipe_study"], "recipes": ["S", "XL"]}})
    with pytest.raises(ValueError, match=r"clip\.recipe_study\.dataset"):
        S.recipe_study({**clip, "recipe_study": {**clip["recipe_study"], "dataset": "nope"}})


def test_a_checkpoint_loads_with_its_own_model(tmp_path):
    """A run of Table A10 may train another model than clip.model: loading follows the checkpoint."""
    import torch

    from synscale.clip.model import build_model
    from synscale.steps.clip import load_model

    tiny = {"name": "synscale-test-clip-own", "config": {
        "embed_dim": 8, "vision_cfg": {"image_size": 16, "patch_size": 8, "width": 16, "layers": 1, "head_width": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}}
    model, _ = build_model(tiny, seed=0)
    torch.save({"state_dict": model.state_dict(), "meta": {"model": tiny}}, tmp_path / "m.pt")
    loaded, _, _ = load_model({"clip": {"model": {"name": "ViT-B-16"}}}, str(tmp_path / "m.pt"))
    assert loaded.text_projection.shape[1] == 8


def _fit(points):
    return {"k": 0.3, "r2": 0.9, "k_ci_boot": [0.2, 0.4], "fit_scales": [p["scale"] for p in points],
            "points": points}


def _point(scale, top1, probes=None, ood=None):
    return {"scale": scale, "captions": scale, "recipe": "S", "in_fit": True, "val_loss": 2.0 / scale ** 0.1,
            "val_top1": top1, "downstream_average": 0.1, "tau": 30.0, "probes": probes or {}, "ood": ood or {}}


def test_the_summary_writes_fig_a15s_rows_per_arm_dataset_and_scale(tmp_path):
    import pandas as pd

    from synscale.clip.tables import summary

    fits = {"real": _fit([_point(100, 0.2, {"gtsrb": 0.1, "dtd": 0.3}), _point(200, 0.4, {"gtsrb": 0.2, "dtd": 0.5})]),
            "syn": _fit([_point(100, 0.1, {"gtsrb": 0.05, "dtd": 0.2}), _point(200, 0.3, {"gtsrb": 0.15, "dtd": 0.4})])}
    out = summary(fits, str(tmp_path / "s.csv"), str(tmp_path / "s.png"), str(tmp_path / "p.csv"),
                  str(tmp_path / "p.png"))
    per = pd.read_csv(tmp_path / "p.csv")
    # 2 arms x 2 scales x (val + 2 probes)
    assert len(per) == 12 and out["per_dataset_sets"] == ["dtd", "gtsrb", "val"]
    row = per[(per["arm"] == "syn") & (per["dataset"] == "dtd") & (per["scale"] == 200)]
    assert row["top1"].tolist() == [0.4] and row["kind"].tolist() == ["probe"]
    assert pd.read_csv(tmp_path / "s.csv")["in_fit"].all()
    assert (tmp_path / "p.png").stat().st_size > 0 and (tmp_path / "s.png").stat().st_size > 0
    # without probe datasets the OOD sets are the downstream sets
    ood = S.per_dataset_rows({"real": _fit([_point(100, 0.2, ood={"digits": {"top1": 0.7, "loss": 1.0}})])})
    assert [(r["dataset"], r["kind"], r["top1"]) for r in ood] == [("val", "val", 0.2), ("digits", "ood", 0.7)]


def test_table_a10_rows_by_scale_then_recipe(tmp_path):
    import pandas as pd

    from synscale.clip.tables import recipes

    evals = [{"recipe": r, "scale": s, "captions": s, "model": "ViT-B-32", "val": {"top1": t, "loss": 1 - t},
              "downstream_average": t / 2, "tau": 40.0}
             for r, s, t in (("S", 50, 0.5), ("L", 50, 0.4), ("L", 10, 0.2), ("S", 10, 0.3))]
    rows = recipes(evals, str(tmp_path / "r.csv"), str(tmp_path / "r.png"))
    # by scale, then S before L as the evaluations first name them
    assert [(r["scale"], r["recipe"], r["val_top1"]) for r in rows] == [(10, "S", 0.3), (10, "L", 0.2),
                                                                       (50, "S", 0.5), (50, "L", 0.4)]
    df = pd.read_csv(tmp_path / "r.csv")
    assert np.allclose(df["downstream_average"], [0.15, 0.1, 0.25, 0.2]) and (tmp_path / "r.png").stat().st_size > 0


def test_a_table_a10_job_trains_its_recipe_and_model(tmp_path):
    """The training job of run real_x_recipe-L at 40 captions: recipe L although S covers that scale
    (batch 16: ceil(2 epochs x 40 / 16) = 5 steps), the run's own model, both recorded."""
    import pandas as pd

    from synscale.data.shards import Sample, write_shard
    from synscale.steps.clip import train_job

    rng = np.random.default_rng(0)
    src = tmp_path / "src-00000.tar"
    keys, caps = [f"{i:05d}" for i in range(40)], [f"caption {i}" for i in range(40)]
    write_shard(src, (Sample(k, rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), -1, c) for k, c in zip(keys, caps)))
    pd.DataFrame({"key": keys, "caption": caps, "class_index": [-1] * 40, "shard": [str(src)] * 40}).to_parquet(
        tmp_path / "block-00000.parquet")
    tiny = {"name": "synscale-test-clip-a10", "config": {
        "embed_dim": 8, "vision_cfg": {"image_size": 16, "patch_size": 8, "width": 16, "layers": 1, "head_width": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}}
    recipe = {"betas": [0.9, 0.98], "eps": 1e-6, "warmup": 1}
    cfg = {"seed": 0, "results": str(tmp_path), "clip": {"model": {"name": "ViT-B-16", "config": None}, "train": {
        "epochs": 2, "amp": None, "nodes": 1, "gpus": 1, "max_device_batch": 64, "workers": 0, "shuffle_buffer": 10,
        "checkpoint_every": 0,
        "recipes": [{"name": "S", "from_scale": 0, "batch_size": 8, "lr": 1e-3, "weight_decay": 0.1, **recipe},
                    {"name": "L", "from_scale": 1000, "batch_size": 16, "lr": 5e-4, "weight_decay": 0.2, **recipe}]}}}
    run = {"name": "real_x_recipe-L", "arm": "real", "dataset": "x", "twins": None, "recipe": "L", "model": tiny,
           "seed_parts": ["clip-recipes", "x"]}
    train_job(0, 1, {"config": cfg, "run": run, "scale": 40, "blocks": [str(tmp_path / "block-00000.parquet")],
                     "twins": [], "out_ckpt": str(tmp_path / "model.pt"), "out_json": str(tmp_path / "train.json"),
                     "threads": 1})
    out = json.loads((tmp_path / "train.json").read_text())
    assert (out["recipe"]["name"], out["recipe"]["batch_size"], out["steps"]) == ("L", 16, 5)
    assert out["model"]["name"] == tiny["name"] and out["captions"] == 40
