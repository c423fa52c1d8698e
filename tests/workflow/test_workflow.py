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
from support.edits import DOWNSTREAM, EDITS, job_stats, set_key
from support.repo import ROOT, TINY, repo_env, smk, snakemake_cmd

RUN = "sd_cfg2_incap"

pytestmark = pytest.mark.slow


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
    # every quality measure records the reference it used: its normalisation and its val top-1
    for q in (res / "quality" / f"{RUN}.json", res / "quality" / RUN / "per_class_fid.json"):
        rec = json.loads(q.read_text())["reference"]
        assert rec["normalization"] == ref["normalization"] and rec["val_top1"] == ref["val_top1"], q
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


@pytest.mark.parametrize("key,value,expected", EDITS, ids=[e[0] for e in EDITS])
def test_config_edit_reruns_exactly_what_it_invalidates(built, tmp_path, key, value, expected):
    cfg = yaml.safe_load(TINY.read_text())
    set_key(cfg, key, value)
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
    assert fresh["generate_shard"] > 0 and fresh["fit"] == 4     # sd, real, sdxl, flux
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
    t0 = time.time()
    cmd = snakemake_cmd(built, *targets, options=("--cores", "1"))  # targets before --configfile
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=repo_env(),
                            start_new_session=True)

    def in_progress():
        """Shards whose generation job this run started and that are mid-way: a finished part file
        (a batch sampled, written since t0) and so more to sample; a job removes its parts once its
        shard is written."""
        def new(q):
            try:
                return q.stat().st_mtime >= t0
            except FileNotFoundError:  # removed by its job just now
                return False

        return [i for i in (1, 2, 3) if any(new(q) for q in res.glob(f"shard-{i:05d}.tar.part-*.npz"))]

    def finished():
        return [i for i in (1, 2, 3) if (res / f"shard-{i:05d}.tar").exists() and i not in in_progress()]

    # wait until this run is generating a shard (after a first one finished, so a kill mid-way is
    # tested with finished shards beside it), then kill everything with SIGKILL
    deadline, running = time.time() + 600, []
    while time.time() < deadline and proc.poll() is None:
        running = in_progress()
        if running and finished():
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


def test_missing_weights_on_a_built_workspace(built, tmp_path):
    """A missing models.sd.path on a built workspace: dry run and run agree (both stop, naming it)."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["models"]["sd"]["path"] = str(tmp_path / "no-such-sd")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    for args in (["-n"], []):
        p = smk(built, *args, configfile=bad, check=False)
        assert p.returncode != 0 and "config key 'models.sd.path'" in p.stdout + p.stderr
