"""Integration tests: the whole DAG on a tiny config, incremental scales, a kill -9 during
generation, the paper grid's dry run and config errors through the snakemake CLI."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml
from support.repo import ROOT, TINY, repo_env, smk, snakemake_cmd

RUN = "sd_cfg2_incap"

pytestmark = pytest.mark.slow


def job_stats(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a (dry) run."""
    stats = {}
    m = re.search(r"Job stats:\n(.*?)\n\n", output + "\n\n", re.S)
    if not m:
        return stats
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            stats[parts[0]] = int(parts[1])
    return stats


def ols(scales, losses, d_i) -> tuple[float, float, float]:
    """(k, -log L at D_I, R^2) of log L = -k (log D - log D_I) + log L(D_I), by numpy's polyfit."""
    import numpy as np

    x, y = np.log(scales) - np.log(d_i), np.log(losses)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    return -slope, -intercept, 1 - float(resid @ resid) / float(((y - y.mean()) ** 2).sum())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The tiny config's whole DAG, built once for the tests of this module."""
    wd = tmp_path_factory.mktemp("tinyrun")
    t0 = time.time()
    smk(wd)
    print(f"tiny DAG built in {time.time() - t0:.0f}s")
    return wd


def test_whole_dag_outputs(built):
    res = built / "results"
    fit = json.loads((res / "scaling" / f"{RUN}.json").read_text())
    real = json.loads((res / "scaling" / "real.json").read_text())
    for run, f in ((RUN, fit), ("real", real)):
        assert f["fit_scales"] == [100, 200, 400] and [p["scale"] for p in f["points"]] == [100, 200, 400]
        assert f["reference_scale_D_I"] == 1000
        # every point is its evaluation's val and OOD numbers; the fit is the OLS line through them
        evals = {d: json.loads((res / "eval" / run / f"n{d}.json").read_text()) for d in (100, 200, 400)}
        for p in f["points"]:
            ev = evals[p["scale"]]
            assert (p["val_loss"], p["val_top1"]) == (ev["val"]["loss"], ev["val"]["top1"])
            assert p["ood"] == {"sklearn_digits": {k: ev["ood"]["sklearn_digits"][k] for k in ("loss", "top1")}}
        k, nll, r2 = ols([100, 200, 400], [p["val_loss"] for p in f["points"]], 1000)
        assert (f["k"], f["neg_log_L_at_DI"], f["r2"]) == pytest.approx((k, nll, r2), rel=1e-6, abs=1e-12)
        assert f["k_ci"][0] <= f["k"] <= f["k_ci"][1]
        lo, hi = f["neg_log_L_at_DI_ci"]
        assert lo <= f["neg_log_L_at_DI"] <= hi
        # per class: the same fit of that class's val loss
        c0 = ols([100, 200, 400], [evals[d]["val"]["per_class_loss"][0] for d in (100, 200, 400)], 1000)
        assert len(f["per_class"]) == 10 and f["per_class"][0]["class_index"] == 0
        assert (f["per_class"][0]["k"], f["per_class"][0]["neg_log_L_at_DI"]) == pytest.approx(c0[:2], rel=1e-6,
                                                                                              abs=1e-12)
        prov = f["provenance"]
        assert prov["config_hash"] and prov["git_commit"] and "torch" in prov["versions"]
    assert (fit["model"], fit["guidance"], fit["prompt"]) == ("sd", 2, "incap")
    quality = json.loads((res / "quality" / f"{RUN}.json").read_text())
    assert fit["quality"]["recognizability"] == quality["recognizability"]
    assert fit["quality"]["diversity"] == quality["diversity"]
    from PIL import Image

    with Image.open(res / "scaling" / f"{RUN}.png") as im:
        assert im.format == "PNG" and min(im.size) >= 200
    # the T2I model is a diffusers pipeline directory
    assert json.loads((res / "t2i" / "sd" / "model_index.json").read_text())["_class_name"] == "StableDiffusionPipeline"
    # shards: 4 of 100 images, each with its manifest
    from synscale.data.shards import read_shard
    from synscale.io import sha256_file

    for i in range(4):
        tar = res / "shards" / RUN / f"shard-{i:05d}.tar"
        man = json.loads(tar.with_suffix(".json").read_text())
        assert man["count"] == 100 and man["sha256"] == sha256_file(tar)
        assert man["class_counts"] == {str(c): 10 for c in range(10)}
        assert sum(man["prompts_used"].values()) == 100
        d = read_shard(tar)
        assert all(t.split(",")[0] in ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                       "nine") for t in d.texts)
    test = json.loads((res / "testsets" / f"{RUN}.json").read_text())
    assert test["count"] == 50
    ev = json.loads((res / "eval" / RUN / "n400.json").read_text())
    assert ev["val"]["n"] == 200 and len(ev["val"]["per_class_loss"]) == 10
    # the overall val loss is the mean over 20 images of each class of the per-class losses
    assert ev["val"]["loss"] == pytest.approx(sum(ev["val"]["per_class_loss"]) / 10, rel=1e-5)
    ref = json.loads((res / "reference" / "metrics.json").read_text())
    assert 0 <= ref["val_top1"] <= 1 and ref["normalization"]["mean"] == [0.5]
    # the report's summary shows the reference's val top-1 and the normalisation it was fed
    summary = (res / "report" / "summary.html").read_text()
    assert f"val top-1 {ref['val_top1']:.4f}" in summary and "trained by the workflow" in summary
    # every real scale trained on D / 10 of each class
    for d in (100, 200, 400):
        counts = json.loads((res / "checkpoints" / "real" / f"n{d}" / "train.json").read_text())["real_subset"]
        assert counts["class_counts"] == [d // 10] * 10, (d, counts)
    # logs were written
    assert (built / "results" / "logs" / "t2i" / "sd.log").read_text().count("UNet") >= 1


def test_nothing_pending_after_build(built):
    out = smk(built, "-n").stdout
    assert "Nothing to be done" in out, out[-2000:]


def test_report(built):
    """The report holds its categories, a scaling figure per run (a sample grid per synthetic run)
    and, in its summary table, every run's k, -log L at D_I and R^2 as its scaling JSON has them."""
    from support.report_html import check_report

    smk(built, "--report", str(built / "report.html"))
    check_report(built / "report.html", built / "results", {RUN: "sd", "real": "real"})


def test_clip_study_on_the_embedded_digits(built):
    """The embedded caption dataset (train digits + their incap captions), its twins through the
    generation rule, the three arms at three scales, zero-shot on val and the OOD digits, the fits."""
    import pandas as pd

    smk(built, "results/clip/summary.csv")
    res = built / "results"
    data = json.loads((res / "clip" / "data" / "digits" / "data.json").read_text())
    assert data["captions"] == 1000 and len(data["files"]) == 4
    incap = pd.read_parquet(res / "prompts" / "incap.parquet")
    block = pd.read_parquet(res / "clip" / "captions" / "digits" / "block-00002.parquet")
    assert len(block) == 250 and set(block["caption"]) <= set(incap["prompt"])
    assert (block["class_index"] >= 0).all()
    summary = json.loads((res / "clip" / "summary.json").read_text())
    assert set(summary["arms"]) == {"real", "syn", "syn+real"}
    for arm in ("real", "syn", "syn+real"):
        fit = json.loads((res / "clip" / "scaling" / f"{arm}.json").read_text())
        assert [p["captions"] for p in fit["points"]] == [250, 500, 1000] and fit["reference_scale_D_I"] == 250
        k, nll, r2 = ols([250, 500, 1000], [p["val_loss"] for p in fit["points"]], 250)
        assert (fit["k"], fit["neg_log_L_at_DI"], fit["r2"]) == pytest.approx((k, nll, r2), rel=1e-6, abs=1e-12)
        run = fit["run"]
        for p in fit["points"]:
            ev = json.loads((res / "clip" / "eval" / run / f"n{p['scale']}.json").read_text())
            assert (p["val_loss"], p["val_top1"], p["tau"]) == (ev["val"]["loss"], ev["val"]["top1"], ev["tau"])
            assert p["ood"] == {"sklearn_digits": {k: ev["ood"]["sklearn_digits"][k] for k in ("loss", "top1")}}
    # built: nothing left to do
    assert "train_clip" not in job_stats(smk(built, "-n", "results/clip/summary.csv").stdout)


def test_tiny_families_and_the_grid(built):
    """The grid target trains the tiny cascade and aMUSEd through rule train_t2i (saved as the real
    families' pipeline classes), generates each config's test set, and summarises its quality."""
    import pandas as pd

    smk(built, "results/grid/summary.csv")
    res = built / "results"
    for model, cls in (("imagen/stage_1", "IFPipeline"), ("imagen/stage_2", "IFSuperResolutionPipeline"),
                       ("muse", "AmusedPipeline"), ("sd", "StableDiffusionPipeline")):
        assert json.loads((res / "t2i" / model / "model_index.json").read_text())["_class_name"] == cls
    trained = json.loads((res / "t2i" / "imagen" / "synscale_training.json").read_text())
    assert trained["family"] == "pixel_cascade" and trained["training_seconds"] > 0
    man = json.loads((res / "testsets" / "imagen_cfg1.5_classname.json").read_text())
    assert man["family"] == "pixel_cascade"
    assert man["model_dirs"] == ["results/t2i/imagen/stage_1", "results/t2i/imagen/stage_2"]
    grid = pd.read_csv(res / "grid" / "summary.csv")
    assert sorted(grid["run"]) == ["imagen_cfg1.5_classname", "muse_cfg0.3_classname", "muse_cfg1_classname",
                                   "sd_cfg2_classname"]
    assert (grid["n_images"] == 50).all() and grid["recognizability"].between(0, 1).all()
    summary = json.loads((res / "grid" / "summary.json").read_text())
    assert summary["spearman_guidance"]["muse"]["all"]["recognizability"]["n"] == 2
    assert "reference classifier" in summary["feature_space"]


def test_adding_a_scale_runs_only_new_work(built, tmp_path):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["runs"][0]["scales"] = [100, 200, 400, 800]
    bigger = tmp_path / "bigger.yaml"
    bigger.write_text(yaml.safe_dump(cfg))
    out = smk(built, "-n", configfile=bigger).stdout
    stats = job_stats(out)
    # per-class FID reads the run's first min(D_I, largest scale) images: D_I = 1000, so now 800 of them
    assert stats == {"generate_shard": 4, "train_classifier": 1, "evaluate": 1, "fit": 1, "per_class_fid": 1,
                     **DOWNSTREAM}, stats
    generated = set(re.findall(rf"output: results/shards/{RUN}/shard-(\d+)\.tar", out))
    assert generated == {f"{i:05d}" for i in range(4, 8)}, generated
    assert "output: results/checkpoints/real" not in out and "output: results/scaling/real" not in out


# what follows any new fit: the per-class analysis of the synthetic run and the report's figures
DOWNSTREAM = {"analysis": 1, "report_figures": 1, "all": 1}
FULL_BUILD = {"data_embedded": 1, "index_real_data": 1, "real_subsets": 1, "prompts": 1, "train_t2i": 1,
              "train_reference": 1, "val_features": 1, "train_features": 1, "generate_shard": 4, "generate_testset": 1,
              "quality": 1, "per_class_fid": 1, "sample_grid": 1, "train_classifier": 6, "evaluate": 6, "fit": 2,
              **DOWNSTREAM}
SD_SAMPLES = {"generate_shard": 4, "generate_testset": 1, "quality": 1, "per_class_fid": 1, "sample_grid": 1,
              "train_classifier": 3, "evaluate": 3, "fit": 1, **DOWNSTREAM}


def _set(cfg, key, value):
    *parents, last = key.split(".")
    for p in parents:
        cfg = cfg.setdefault(p, {})
    cfg[last] = value


# a config edit -> exactly the jobs it invalidates (from the dry run on the built tiny workflow)
EDITS = [
    ("classifier.lr", 0.003, {"train_classifier": 6, "evaluate": 6, "fit": 2, **DOWNSTREAM}),
    ("classifier.eval_batch_size", 64, {"evaluate": 6, "fit": 2, **DOWNSTREAM}),
    ("models.sd.steps", 3, SD_SAMPLES),
    ("models.sd.train.unet_steps", 21, {"train_t2i": 1, **SD_SAMPLES}),
    ("generation.testset_per_class", 4, {"generate_testset": 1, "quality": 1, "sample_grid": 1, "fit": 1,
                                         **DOWNSTREAM}),
    ("fit.reference_scale", 800, {"fit": 2, **DOWNSTREAM}),
    ("prompts.places_per_class", 5, {}),   # no run of the tiny config uses a places set
    ("reference_classifier.steps", 50, {"train_reference": 1, "val_features": 1, "train_features": 1,
                                        "quality": 1, "per_class_fid": 1, "fit": 1, **DOWNSTREAM}),
    ("quality.per_class_fid.min_images_per_class", 10, {"per_class_fid": 1, "analysis": 1, "all": 1}),
    ("quality.lpips.pairs_per_class", 20, {"quality": 1, "fit": 1, **DOWNSTREAM}),
    ("analysis.groups.k_quantile", 0.5, {"analysis": 1, "all": 1}),
    ("threads", 2, {}),
    ("seed", 1, FULL_BUILD),
]


@pytest.mark.parametrize("key,value,expected", EDITS, ids=[e[0] for e in EDITS])
def test_config_edit_reruns_exactly_what_it_invalidates(built, tmp_path, key, value, expected):
    cfg = yaml.safe_load(TINY.read_text())
    _set(cfg, key, value)
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    out = smk(built, "-n", configfile=edited).stdout
    assert job_stats(out) == expected, out[-3000:]
    if not expected:
        assert "Nothing to be done" in out


def test_new_shard_size_regenerates_every_shard(built, tmp_path):
    """Never old-size and new-size shards in one run: a new generation.shard_size re-makes them all."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["generation"]["shard_size"] = 50
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    out = smk(built, "-n", configfile=edited).stdout
    assert job_stats(out) == {"generate_shard": 8, "train_classifier": 3, "evaluate": 3, "fit": 1, "per_class_fid": 1,
                              **DOWNSTREAM}
    assert set(re.findall(rf"output: results/shards/{RUN}/shard-(\d+)\.tar", out)) == {f"{i:05d}" for i in range(8)}


def test_configurations_never_share_outputs(built, tmp_path, paperlike_config):
    """In a workspace where the embedded default was built and Snakemake's metadata is gone, the
    paper-shaped config plans exactly what it plans in an empty directory: no output of one is
    taken for the other's (each configuration writes under its own results root)."""
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(built, ws, ignore=shutil.ignore_patterns(".snakemake"))
    fresh = job_stats(smk(tmp_path / "empty", "-n", configfile=paperlike_config).stdout)
    assert fresh["generate_shard"] > 0 and fresh["fit"] == 2
    assert job_stats(smk(ws, "-n", configfile=paperlike_config).stdout) == fresh


def _keep_mtime(path, change):
    st = path.stat()
    change(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _flip_png_byte(tar_path):
    import tarfile

    with tarfile.open(tar_path) as t:
        m = next(m for m in t.getmembers() if m.name.endswith(".png"))
        offset = m.offset_data + m.size // 2
    data = bytearray(tar_path.read_bytes())
    data[offset] ^= 0xFF
    tar_path.write_bytes(bytes(data))


def verify(workdir, *args):
    cmd = [sys.executable, "-m", "synscale.verify", "--configfile", str(TINY), "-d", str(workdir), "--cores", "2",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=repo_env(), cwd=ROOT)


def test_audit_finds_and_repairs_damage(built, tmp_path):
    """A truncated shard, a flipped byte in a PNG of a real-data shard, a deleted manifest and a
    garbage checkpoint, all with their mtimes kept: the audit names all four and its rebuild
    restores the files byte-identical (the manifest with the same record), keeping everything
    built from them."""
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(built, ws, symlinks=True)
    res = ws / "results"
    shard = res / "shards" / RUN / "shard-00002.tar"
    real = res / "data" / "train-00001.tar"
    manifest = res / "shards" / RUN / "shard-00001.json"
    ckpt = res / "checkpoints" / "real" / "n200" / "model.pt"
    originals = {p: p.read_bytes() for p in (shard, real, manifest, ckpt)}
    _keep_mtime(shard, lambda p: p.write_bytes(originals[shard][: len(originals[shard]) // 2]))
    _keep_mtime(real, _flip_png_byte)
    manifest.unlink()
    _keep_mtime(ckpt, lambda p: p.write_bytes(b"garbage" * 100))
    # snakemake alone sees nothing to do: the damage is invisible to mtimes
    assert "Nothing to be done" in smk(ws, "-n").stdout
    p = verify(ws)
    assert p.returncode == 1, p.stdout + p.stderr
    out = p.stdout
    assert f"corrupt: results/shards/{RUN}/shard-00002.tar" in out and "bytes where its manifest records" in out
    assert "corrupt: results/data/train-00001.tar: sha256" in out
    assert f"missing: results/shards/{RUN}/shard-00001.json" in out
    assert "corrupt: results/checkpoints/real/n200/model.pt" in out
    assert "snakemake" in out and "--force" in out
    p = verify(ws, "--rebuild")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    for path in (shard, real, ckpt):
        assert path.read_bytes() == originals[path], f"{path} not restored byte-identical"
    # the manifest is back with the same record of its shard (its provenance has a new time stamp)
    old, new = json.loads(originals[manifest]), json.loads(manifest.read_text())
    assert {k: new[k] for k in ("count", "bytes", "sha256", "class_counts")} == \
        {k: old[k] for k in ("count", "bytes", "sha256", "class_counts")}
    assert verify(ws).returncode == 0
    assert "Nothing to be done" in smk(ws, "-n").stdout


def test_a_job_reading_a_damaged_file_names_it(built, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(built, ws, symlinks=True)
    testset = ws / "results" / "testsets" / f"{RUN}.tar"
    testset.write_bytes(testset.read_bytes()[:2048])  # new mtime: quality re-runs and reads it
    p = smk(ws, f"results/quality/{RUN}.json", check=False)
    out = p.stdout + p.stderr
    # stopped before any job started (Snakemake would have removed the quality JSON first), naming
    # the file and the repair
    assert p.returncode != 0 and "do not match their manifests" in out, out[-3000:]
    assert f"results/testsets/{RUN}.tar" in out and "python -m synscale.verify --rebuild" in out
    assert "Error in rule quality" not in out and (ws / "results" / "quality" / f"{RUN}.json").exists()


def test_kill_9_during_generation_then_rerun(built):
    res = built / "results" / "shards" / RUN
    originals = {i: (res / f"shard-{i:05d}.tar").read_bytes() for i in range(4)}
    for i in (1, 2, 3):
        (res / f"shard-{i:05d}.tar").unlink()
        (res / f"shard-{i:05d}.json").unlink()
    targets = [f"results/shards/{RUN}/shard-{i:05d}.tar" for i in range(4)]
    logs = built / "results" / "logs" / "generate" / RUN
    t0 = time.time()
    cmd = snakemake_cmd(built, *targets, options=("--cores", "1"))  # targets before --configfile
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=repo_env(),
                            start_new_session=True)

    def in_progress():
        """Shards whose generation job this run started (its log written since t0) and that have
        no final file yet: jobs running right now."""
        return [i for i in (1, 2, 3) if (logs / f"shard-{i:05d}.log").exists()
                and (logs / f"shard-{i:05d}.log").stat().st_mtime >= t0 and not (res / f"shard-{i:05d}.tar").exists()]

    # wait until this run is generating a shard (after a first one finished, so a kill mid-way is
    # tested with finished shards beside it), then kill everything with SIGKILL
    deadline, running = time.time() + 600, []
    while time.time() < deadline and proc.poll() is None:
        done = [i for i in (1, 2, 3) if (res / f"shard-{i:05d}.tar").exists()]
        running = in_progress()
        if done and running:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert running, "no generation job of this run was in progress when it was killed"
    # no partial shard under a final name: every final tar present is complete and readable
    from synscale.data.shards import read_shard

    present = sorted(res.glob("shard-*.tar"))
    for p in present:
        assert len(read_shard(p)) == 100
    missing = [i for i in range(4) if not (res / f"shard-{i:05d}.tar").exists()]
    # the job killed mid-way left no final file (every final file present was checked whole above)
    assert set(running) & set(missing), (running, missing)
    # re-run: only the missing shards are generated, byte-identical to the uninterrupted build
    smk(built, "--unlock")
    pending = job_stats(smk(built, "-n", "--rerun-incomplete", *targets).stdout)
    assert pending == {"generate_shard": len(missing)}, pending
    smk(built, "--rerun-incomplete", *targets)
    for i in range(4):
        assert (res / f"shard-{i:05d}.tar").read_bytes() == originals[i], f"shard {i} differs"
    assert not list(res.glob(".*partial*"))


def test_paper_grid_dry_run(tmp_path):
    """The grid's jobs previewed without any local weights or data (allow_missing_paths)."""
    t0 = time.time()
    p = smk(tmp_path, "-n", "--config", "allow_missing_paths=True", configfile=ROOT / "config" / "paper.yaml")
    elapsed = time.time() - t0
    stats = job_stats(p.stdout)
    assert stats["generate_testset"] == 52 and stats["quality"] == 52  # the grid's 52 configs, 3 families
    # the paper's scaling runs: 4 SD configs to 64M, Imagen and Muse to 8M, ViT-L/16 on the best SD and
    # Imagen configs to 8M, real to 1.28M
    assert stats["fit"] == 9
    for run in ("sd_cfg7.5_classname", "sd_cfg2_classname", "sd_cfg2_clip80", "sd_cfg2_incap"):
        assert f"output: results/paper/scaling/{run}.json" in p.stdout
        assert f"results/paper/checkpoints/{run}/n64000000/model.pt" in p.stdout
    for run in ("sd_cfg2_incap-vitl16", "imagen_cfg1.5_incap", "imagen_cfg1.5_incap-vitl16", "muse_cfg0.3_incap"):
        assert f"results/paper/checkpoints/{run}/n8000000/model.pt" in p.stdout, run
    assert "results/paper/checkpoints/sd_cfg2_incap-vitl16/n16000000" not in p.stdout
    assert "results/paper/checkpoints/real/n1281167/model.pt" in p.stdout
    # 247 shards of 260,000 images for each 64M config, 31 for each 8M one (the ViT-L runs share their
    # config's shards), 5 for the others; and the CLIP twins: 370 blocks of ~1M LAION captions (SD 1.5),
    # 12 of CC12M for each of the sweep's 4 guidances (Table A11: 1.25, 1.5, 1.75, 2.5)
    assert stats["generate_shard"] == 4 * 247 + 2 * 31 + 46 * 5 + 370 + 4 * 12
    # the CLIP grid: three arms at the paper's ten scales to 371M captions, the CC12M CFG sweep
    assert stats["clip_captions"] == 370 + 12
    assert stats["train_clip"] == stats["evaluate_clip"] == 3 * 10 + 4 and stats["fit_clip"] == 3
    assert stats["clip_summary"] == stats["clip_cfg_sweep"] == 1
    for run in ("real_laion400m", "syn_sd_cfg1.5_laion400m", "synreal_sd_cfg1.5_laion400m"):
        assert f"results/paper/clip/checkpoints/{run}/n371000000/model.pt" in p.stdout, run
    assert "results/paper/clip/checkpoints/syn_sd_cfg2.5_cc12m/n10000000/model.pt" in p.stdout
    # Table A10: the real arm with the S and the L recipe at 10M, 50M and 100M captions
    assert stats["train_clip_recipe"] == stats["evaluate_clip_recipe"] == 2 * 3 and stats["clip_recipes"] == 1
    assert "config key 'clip.datasets.laion400m.shards'" in p.stderr
    assert stats["train_classifier"] == 4 * 11 + 4 * 8 + 5 + 46
    for key in ("models.imagen.path", "models.imagen.sr_path", "models.muse.path"):
        assert f"config key '{key}'" in p.stderr
    for rule in ("prompts", "reference_external", "train_classifier", "evaluate", "all"):
        assert stats.get(rule), rule
    # missing local weights and data are named, once each, in the dry run
    for key in ("models.sd.path", "data.train_shards", "data.ood.imagenet_a.shards", "reference_classifier.path",
                "quality.fid.inception_weights", "quality.lpips.backbone_weights", "probes.dtd.root",
                "probes.sun397.train_shards"):
        assert f"config key '{key}'" in p.stderr
    print(f"paper grid dry run: {sum(stats.values())} jobs in {elapsed:.1f}s")
    # the SLURM requests of a CLIP training job: 4 nodes x 8 GPUs (Table A3's batches)
    assert re.search(r"rule train_clip:.*?resources: [^\n]*nodes=4[^\n]*gres=gpu:8", p.stdout, re.S)


def test_missing_paths_stop_dry_run_and_run_alike(tmp_path):
    """Without allow_missing_paths a dry run stops like a real run, naming every missing key; with
    it, a real run is refused before any job."""
    paper = ROOT / "config" / "paper.yaml"
    for args in (["-n"], []):
        p = smk(tmp_path / "wd", *args, configfile=paper, check=False)
        out = p.stdout + p.stderr
        assert p.returncode != 0
        for key in ("models.sd.path", "models.imagen.path", "models.imagen.sr_path", "models.muse.path",
                    "data.train_shards", "reference_classifier.path", "prompts.captioner.path"):
            assert f"config key '{key}'" in out, key
        assert "allow_missing_paths=true" in out
    p = smk(tmp_path / "wd", "--config", "allow_missing_paths=True", configfile=paper, check=False)
    assert p.returncode != 0 and "only for a dry run" in p.stdout + p.stderr
    assert not (tmp_path / "wd" / "results").exists()


def test_missing_weights_on_a_built_workspace(built, tmp_path):
    """A missing models.sd.path on a built workspace: dry run and run agree (both stop, naming it)."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["models"]["sd"]["path"] = str(tmp_path / "no-such-sd")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    for args in (["-n"], []):
        p = smk(built, *args, configfile=bad, check=False)
        assert p.returncode != 0 and "config key 'models.sd.path'" in p.stdout + p.stderr


def test_missing_weights_fail_before_any_job(tmp_path):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["models"]["sd"]["path"] = str(tmp_path / "no-such-sd")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    p = smk(tmp_path / "wd", configfile=bad, check=False)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "config key 'models.sd.path'" in out and "no-such-sd" in out
    assert not (tmp_path / "wd" / "results").exists()


@pytest.mark.parametrize("mutate,pattern", [
    (lambda c: c["runs"][0].update(guidance=50), r"runs\[0\]\.guidance.*outside the range"),
    (lambda c: c["runs"][0].update(scales=[400, 100]), r"runs\[0\]\.scales.*sorted"),
    (lambda c: c["generation"].update(shard_size=0), r"generation\.shard_size"),
    (lambda c: c["runs"][0].update(model="dalle"), r"unknown model 'dalle'"),
    (lambda c: c.update(seed=1.0), r"config key 'seed': 1\.0 is not of type 'integer'"),
    (lambda c: c["fit"].update(min_points=4), r"config key 'fit\.range'.*fit\.min_points is 4"),
    (lambda c: c["classifier"]["kwargs"].update(emb_dim=8), r"'classifier\.kwargs'.*emb_dim"),
    (lambda c: c.update(results=""), r"config key 'results'"),
])
def test_bad_config_stops_snakemake(tmp_path, mutate, pattern):
    cfg = yaml.safe_load(TINY.read_text())
    mutate(cfg)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    p = smk(tmp_path / "wd", "-n", configfile=bad, check=False)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert re.search(pattern, out), out[-2000:]
    assert not (tmp_path / "wd" / "results").exists()


def test_repeated_key_and_results_file_stop_snakemake(tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text(TINY.read_text() + "\nthreads: 2\n")
    p = smk(tmp_path / "wd", "-n", configfile=dup, check=False)
    assert p.returncode != 0 and "key 'threads' appears twice" in p.stdout + p.stderr
    cfg = yaml.safe_load(TINY.read_text())
    cfg["results"] = "out"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    (tmp_path / "wd2").mkdir()
    (tmp_path / "wd2" / "out").write_text("a file, not a directory")
    p = smk(tmp_path / "wd2", "-n", configfile=bad, check=False)
    assert p.returncode != 0 and "config key 'results' = 'out': a file of that name exists" in p.stdout + p.stderr
