"""Configuration errors and previews through the snakemake CLI, on no built workspace: the paper
grid's dry run with missing paths allowed, missing paths stopping a dry run and a run alike, and bad
configurations stopping snakemake before any job, naming the key."""
import re
import time

import pytest
import yaml
from support.edits import job_stats
from support.repo import ROOT, TINY, smk

pytestmark = pytest.mark.subprocess


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


def test_modern_grid_missing_paths_stop_before_any_job(tmp_path):
    """config/modern.yaml dry-runs with missing paths allowed; without, a run stops before any job,
    naming each model's path and the SDXL refiner's."""
    modern = ROOT / "config" / "modern.yaml"
    p = smk(tmp_path / "wd", "-n", "--config", "allow_missing_paths=true", configfile=modern)
    assert sum(job_stats(p.stdout).values()) == 1220  # README: "plans its 1,220 jobs"
    p = smk(tmp_path / "wd", configfile=modern, check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    for key in ("models.sdxl.path", "models.sdxl.refiner_path", "models.sd35.path", "models.pixart.path",
                "models.fluxdev.path", "models.fluxschnell.path", "models.sdxlturbo.path"):
        assert f"config key '{key}'" in out, key
    assert "rule " not in out and not (tmp_path / "wd" / "results").exists()


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


def test_the_paper_grid_goes_to_slurm_in_fewer_submissions(tmp_path):
    """Through the SLURM profile, the grid's short CPU jobs are bundled into job groups: 465 jobs in 18
    group jobs (16 of caption tables, 24 blocks each; the prompt sets; the fits, summaries and
    figures), so 2,789 submitted jobs go out in 2,342 sbatch calls (the local ones, `all`, the ledger
    and the external reference link, are not submitted)."""
    p = smk(tmp_path, "-n", "--config", "allow_missing_paths=True", configfile=ROOT / "config" / "paper.yaml",
            options=("--profile", str(ROOT / "profiles" / "slurm")), configfile_first=True,
            env={"SLURM_CONF": "/dev/null"})
    groups = re.findall(r"\] Group job (\w+) ", p.stdout)
    assert sorted(set(groups)) == ["caption_tables", "prepare", "summarize"]
    assert (groups.count("caption_tables"), groups.count("prepare"), groups.count("summarize")) == (16, 1, 1)
    grouped = len(re.findall(r"^    rule (\w+):", p.stdout, re.M))
    alone = re.findall(r"^rule (\w+):", p.stdout, re.M)
    local = sum(1 for rule in alone if rule in ("all", "ledger", "reference_external"))  # the localrules
    assert grouped == 465 and len(alone) + grouped == sum(job_stats(p.stdout).values())
    assert len(alone) - local + len(groups) == 2342 < len(alone) - local + grouped == 2789
