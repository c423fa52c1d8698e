"""Faults and repairs through the workflow's own Snakefile (tiny config): ``--profile slurm``
where SLURM is not installed names that; a real-data shard edited in place stops the next run
before any job starts (the index built from it is kept) and ``python -m synscale.verify --rebuild``
repairs it; a damaged prompt table is found by the audit and rebuilt byte-identical, after which
snakemake has nothing to do."""
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from support.repo import ROOT, TINY, repo_env, smk

pytestmark = pytest.mark.subprocess

SLURM_TOOLS = {"sbatch", "squeue", "sacct", "scontrol", "sinfo", "srun", "scancel", "salloc"}
INDEX = "results/data/index.json"
PROMPTS = "results/prompts/incap.parquet"
SHARD = "results/data/train-00001.tar"


def _path_without_slurm(tmp_path: Path) -> str:
    """A PATH with every command of this one except SLURM's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            link = bin_dir / name
            if name not in SLURM_TOOLS and not link.exists() and os.access(os.path.join(d, name), os.X_OK):
                link.symlink_to(os.path.join(d, name))
    return str(bin_dir)


def test_profile_slurm_without_slurm_says_so_before_any_job(tmp_path):
    wd = tmp_path / "ws"
    p = smk(wd, "--profile", str(ROOT / "profiles" / "slurm"), "results/data/data.json", options=(), check=False,
            env={"PATH": _path_without_slurm(tmp_path)}, cwd=ROOT, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "SLURM is not installed or not on PATH (sbatch/squeue/sacct not found)" in out, out[-3000:]
    assert "run without --profile slurm" in out
    assert "Job submission failed" not in out and not (wd / "results" / "data").exists()


def verify(ws, *args):
    cmd = [sys.executable, "-m", "synscale.verify", "--configfile", str(TINY), "-d", str(ws), "--cores", "2", *args,
           INDEX, PROMPTS]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=repo_env(), cwd=ROOT)


def _flip_png_byte(tar_path: Path) -> None:
    with tarfile.open(tar_path) as t:
        m = next(m for m in t.getmembers() if m.name.endswith(".png"))
        offset = m.offset_data + m.size // 2
    with open(tar_path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0xFF]))


@pytest.mark.slow
def test_damaged_inputs_and_prompt_tables_through_the_workflow(tmp_path):
    ws = tmp_path / "ws"
    smk(ws, INDEX, PROMPTS)
    v = verify(ws)
    assert v.returncode == 0, v.stdout + v.stderr[-3000:]
    res = ws / "results"
    index, prompts, shard = (res / "data" / "index.json"), ws / PROMPTS, ws / SHARD
    originals = {p: p.read_bytes() for p in (index, prompts, shard)}

    # a prompt table damaged with its mtime kept: snakemake sees nothing, the audit names it
    st = prompts.stat()
    data = bytearray(originals[prompts])
    data[len(data) // 2] ^= 0xFF
    prompts.write_bytes(bytes(data))
    os.utime(prompts, ns=(st.st_atime_ns, st.st_mtime_ns))
    v = verify(ws)
    assert v.returncode == 1 and f"corrupt: {PROMPTS}: sha256" in v.stdout, v.stdout
    assert "it runs 1 job(s):\n  prompts: rebuilds results/prompts/incap.parquet" in v.stdout
    v = verify(ws, "--rebuild")
    assert v.returncode == 0, v.stdout + v.stderr[-3000:]
    assert prompts.read_bytes() == originals[prompts]
    assert "Nothing to be done" in smk(ws, "-n", INDEX, PROMPTS).stdout

    # a real-data shard edited in place: the next run stops before the index job removes its output
    _flip_png_byte(shard)
    p = smk(ws, INDEX, check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0 and f"{SHARD}: sha256" in out, out[-3000:]
    assert f"python -m synscale.verify --rebuild --configfile {TINY}" in out
    assert index.read_bytes() == originals[index]
    assert not (res / "logs" / "data" / "index.log").exists() or "Traceback" not in (
        res / "logs" / "data" / "index.log").read_text()
    v = verify(ws, "--rebuild")
    assert v.returncode == 0, v.stdout + v.stderr[-3000:]
    assert "data_embedded: rebuilds results/data/train-00001.tar" in v.stdout
    for path, data in originals.items():
        assert path.read_bytes() == data, path
    assert "Nothing to be done" in smk(ws, "-n", INDEX, PROMPTS).stdout
    shutil.rmtree(ws)
