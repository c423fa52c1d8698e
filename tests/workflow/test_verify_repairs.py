"""Faults and repairs through real Snakemake, on a small workspace laid out like the workflow's
(a T2I model, shards with their manifests, a checkpoint with its train.json, an evaluation) whose
Snakefile has the workflow's onstart / onerror hooks (synscale.data.audit):

* a shard edited in place stops the next run before any job starts: the checkpoint built from it
  is still there and the error names the shard and the repair;
* ``python -m synscale.verify --rebuild`` runs exactly the jobs it names (never the T2I model
  trained on a rebuilt real-data shard, nor an out-of-date upstream job of an edited config) and,
  when the rebuilt files come back byte-identical, ends with ``snakemake -n`` having nothing to do
  (a missing manifest included);
* verify's verdict is Snakemake's: jobs pending, a lock held;
* SIGKILL of verify stops the snakemake it started, its job, and releases the lock;
* SIGTERM to snakemake when no job failed says so.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.repo import repo_env

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

STEPS = '''
import hashlib, json, os, sys, time
from pathlib import Path


def rec(p):
    b = Path(p).read_bytes()
    return {"bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}


def main(step, *paths):
    with open("runs.log", "a") as fh:
        fh.write(f"{step} {paths[0]}\\n")
    if step == "data":
        tar, info = paths
        Path(tar).write_bytes(b"real images " * 300)
        Path(info).write_text(json.dumps({"files": {Path(tar).name: rec(tar)}, "written": time.time()}))
    elif step == "t2i":
        Path(paths[0]).write_bytes(b"model")
    elif step == "shard":
        tar, man = paths
        if os.environ.get("SLOW_SHARD"):
            Path("shard.started").write_text(str(os.getpid()))
            time.sleep(float(os.environ["SLOW_SHARD"]))
        Path(tar).write_bytes((f"shard {tar[-9:-4]} " * 200).encode())
        Path(man).write_text(json.dumps({"shard": Path(tar).name, "count": 2, **rec(tar), "written": time.time()}))
    elif step == "train":
        model, info, *shards = paths
        if os.environ.get("SLOW_TRAIN"):
            Path("train.started").write_text(str(os.getpid()))
            time.sleep(300)
        Path(model).write_bytes(b"".join(Path(s).read_bytes() for s in shards)[::7])
        Path(info).write_text(json.dumps({"files": {"model.pt": rec(model)}, "written": time.time()}))
    elif step == "evaluate":
        out, model = paths
        Path(out).write_text(json.dumps({"n": len(Path(model).read_bytes())}))


main(*sys.argv[1:])
'''

SNAKEFILE = '''
import sys

from snakemake.exceptions import WorkflowError


configfile: "config.yaml"


SHARDS = [f"results/shards/r/shard-{i:05d}.tar" for i in range(2)]
PY = sys.executable


rule all:
    input: "results/eval/r/n2.json"


rule data:
    output: tar="results/data/train-00000.tar", info="results/data/data.json"
    shell: "{PY} steps.py data {output.tar} {output.info}"


rule t2i:
    input: "results/data/train-00000.tar", "results/data/data.json"
    output: "results/t2i/m.bin"
    params: note=config["note"]
    shell: "{PY} steps.py t2i {output}"


rule shard:
    input: "results/t2i/m.bin"
    output: tar="results/shards/r/shard-{i}.tar", man="results/shards/r/shard-{i}.json"
    shell: "{PY} steps.py shard {output.tar} {output.man}"


rule train:
    input: shards=SHARDS, manifests=[s[:-4] + ".json" for s in SHARDS]
    output: model="results/checkpoints/r/n2/model.pt", info="results/checkpoints/r/n2/train.json"
    shell: "{PY} steps.py train {output.model} {output.info} {input.shards}"


rule evaluate:
    input: model="results/checkpoints/r/n2/model.pt", info="results/checkpoints/r/n2/train.json"
    output: "results/eval/r/n2.json"
    shell: "{PY} steps.py evaluate {output} {input.model}"


onstart:
    from synscale.data import audit

    _stop = audit.before_run(workflow)
    if _stop:
        raise WorkflowError(_stop)


onerror:
    from synscale.data import audit

    _stop = audit.stopped(workflow)
    if _stop:
        raise WorkflowError(_stop)
'''

MODEL = "results/checkpoints/r/n2/model.pt"
SHARD0 = "results/shards/r/shard-00000.tar"


def smk(ws, *args, env=None, check=True):
    p = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", *args], cwd=ws, capture_output=True,
                       text=True, timeout=300, env=repo_env(env))
    assert not check or p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return p


def verify(ws, *args, env=None):
    return subprocess.run([sys.executable, "-m", "synscale.verify", "--cores", "1", *args], cwd=ws,
                          capture_output=True, text=True, timeout=300, env=repo_env(env))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    ws = tmp_path_factory.mktemp("verify-ws") / "ws"
    ws.mkdir()
    (ws / "steps.py").write_text(STEPS)
    (ws / "Snakefile").write_text(SNAKEFILE)
    (ws / "config.yaml").write_text("note: a\n")
    smk(ws)
    (ws / "runs.log").unlink()
    return ws


@pytest.fixture()
def ws(built, tmp_path):
    out = tmp_path / "ws"
    shutil.copytree(built, out, symlinks=True)
    return out


def runs(ws) -> list[str]:
    log = ws / "runs.log"
    return log.read_text().splitlines() if log.exists() else []


def keep_mtime(path: Path, change) -> None:
    st = path.stat()
    change(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def nothing_to_do(ws) -> bool:
    return "Nothing to be done" in smk(ws, "-n").stdout


def test_a_shard_edited_in_place_stops_the_run_before_its_checkpoint_is_removed(ws):
    model = (ws / MODEL).read_bytes()
    time.sleep(0.05)
    with open(ws / SHARD0, "r+b") as fh:  # edited in place: a newer mtime, so train would re-run
        fh.seek(10)
        fh.write(b"EDIT")
    p = smk(ws, check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert f"{SHARD0}: sha256" in out and "no job was started and no output was removed" in out
    assert "python -m synscale.verify --rebuild" in out
    assert (ws / MODEL).read_bytes() == model and runs(ws) == []
    # the repair: the shard rebuilt byte-identical, what was built from it kept
    v = verify(ws, "--rebuild")
    assert v.returncode == 0, v.stdout + v.stderr[-3000:]
    assert runs(ws) == [f"shard {SHARD0}"] and (ws / MODEL).read_bytes() == model
    assert nothing_to_do(ws)


def test_rebuild_runs_exactly_what_it_names_and_leaves_nothing_to_do(ws):
    """A shard cut short (its mtime kept) and another shard's manifest deleted: the rebuild names
    and runs those two jobs only; everything built from them is kept; snakemake -n has nothing to do."""
    originals = {p: (ws / p).read_bytes() for p in (SHARD0, MODEL, "results/shards/r/shard-00001.tar")}
    keep_mtime(ws / SHARD0, lambda p: p.write_bytes(originals[SHARD0][:1000]))
    (ws / "results/shards/r/shard-00001.json").unlink()
    v = verify(ws)
    assert v.returncode == 1
    assert f"corrupt: {SHARD0}: 1,000 bytes" in v.stdout and "missing: results/shards/r/shard-00001.json" in v.stdout
    assert "it runs 2 job(s):" in v.stdout
    assert f"shard: rebuilds {SHARD0}" in v.stdout and "shard: rebuilds results/shards/r/shard-00001.json" in v.stdout
    assert "pending for reasons other" not in v.stdout  # the jobs after the missing manifest are its own
    v = verify(ws, "--rebuild")
    assert v.returncode == 0, v.stdout + v.stderr[-3000:]
    assert sorted(runs(ws)) == [f"shard {SHARD0}", "shard results/shards/r/shard-00001.tar"]
    for p, data in originals.items():
        assert (ws / p).read_bytes() == data, p
    assert "snakemake -n: nothing to be done" in v.stdout
    assert nothing_to_do(ws)
    assert verify(ws).returncode == 0


def test_rebuild_does_not_retrain_what_a_rebuilt_file_feeds(ws):
    """A real-data shard and a generated shard damaged: the rebuild runs their two jobs, not the
    T2I training that reads the data shard nor the other shards made from its model."""
    data = ws / "results/data/train-00000.tar"
    originals = {p: p.read_bytes() for p in (data, ws / SHARD0, ws / "results/t2i/m.bin")}
    keep_mtime(data, flip)
    keep_mtime(ws / SHARD0, flip)
    v = verify(ws, "--rebuild")
    assert v.returncode == 0, v.stdout + v.stderr[-3000:]
    assert "it runs 2 job(s):" in v.stdout and "t2i" not in v.stdout.split("it runs")[1].split("rebuilt")[0]
    assert sorted(runs(ws)) == ["data results/data/train-00000.tar", f"shard {SHARD0}"]
    for p, b in originals.items():
        assert p.read_bytes() == b, p
    assert nothing_to_do(ws)


def test_rebuild_does_not_run_an_out_of_date_upstream_job(ws):
    """A config edit makes the T2I job (and all after it) pending; a damaged checkpoint is repaired
    by its own job only, and the pending work is named, left to snakemake and reported after."""
    (ws / "config.yaml").write_text("note: b\n")
    keep_mtime(ws / MODEL, flip)
    v = verify(ws, "--rebuild")
    assert v.returncode == 1, v.stdout + v.stderr[-3000:]
    assert runs(ws) == [f"train {MODEL}"]
    assert "it runs 1 job(s):\n  train: rebuilds results/checkpoints/r/n2/model.pt" in v.stdout
    assert "t2i -> results/t2i/m.bin  [Params have changed" in v.stdout
    assert "still pending (6 job(s)" in v.stdout
    assert verify(ws).returncode == 1  # the config edit is still to be run


def test_verdict_agrees_with_snakemake_on_pending_jobs(ws):
    """Every file present and intact, but an edited config makes snakemake plan 6 jobs: not "every
    output is present" (rc 1), the jobs listed with Snakemake's reasons."""
    (ws / "config.yaml").write_text("note: b\n")
    v = verify(ws)
    assert v.returncode == 1, v.stdout
    assert "every output is present" not in v.stdout and "(6 job(s), from snakemake -n)" in v.stdout
    assert "t2i -> results/t2i/m.bin  [Params have changed" in v.stdout
    assert "train -> results/checkpoints/r/n2/model.pt" in v.stdout


def _wait_for(path: Path, proc, timeout=120):
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:  # a zombie is not alive
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:  # it exited between the two checks
        return False


def _running_in(ws: Path) -> list[str]:
    """Live processes whose working directory is ``ws`` (snakemake, its supervisor, its jobs)."""
    out = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and os.readlink(d / "cwd") == str(ws) and _alive(int(d.name)):
                out.append((d / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200])
        except OSError:
            continue
    return out


def test_a_held_lock_is_reported(ws):
    keep_mtime(ws / MODEL, flip)
    run = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1", "--force", MODEL], cwd=ws,
                           env=repo_env({"SLOW_TRAIN": "1"}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        _wait_for(ws / "train.started", run)
        v = verify(ws)
        assert v.returncode == 2, v.stdout
        assert "the workspace is locked" in v.stdout and "snakemake --unlock" in v.stdout
    finally:
        os.killpg(run.pid, signal.SIGINT)
        run.wait(timeout=120)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_kill_9_of_verify_stops_its_snakemake_and_releases_the_lock(ws):
    keep_mtime(ws / MODEL, flip)
    v = subprocess.Popen([sys.executable, "-m", "synscale.verify", "--cores", "1", "--rebuild"], cwd=ws,
                         env=repo_env({"SLOW_TRAIN": "1"}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(ws / "train.started", v)
    job = int((ws / "train.started").read_text())
    assert list((ws / ".snakemake" / "locks").iterdir())
    v.kill()
    v.wait()
    deadline = time.time() + 60
    while _alive(job) and time.time() < deadline:
        time.sleep(0.2)
    assert not _alive(job), "the rebuild's job outlived verify"
    deadline = time.time() + 60
    while (ws / ".snakemake" / "locks").exists() and time.time() < deadline:
        time.sleep(0.2)
    assert not (ws / ".snakemake" / "locks").exists(), "the lock outlived verify"
    deadline = time.time() + 60
    while _running_in(ws) and time.time() < deadline:
        time.sleep(0.2)
    assert not _running_in(ws), "processes left running in the workspace"


def test_sigterm_with_no_failed_job_says_so(ws):
    """SIGTERM while a job runs: the job finishes, the next is not started, and the run ends saying
    it was stopped, not "At least one job did not complete successfully"."""
    shards = [SHARD0, "results/shards/r/shard-00001.tar"]
    run = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1", "--force", *shards], cwd=ws,
                           env=repo_env({"SLOW_SHARD": "4"}), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    try:
        _wait_for(ws / "shard.started", run)
    finally:
        run.send_signal(signal.SIGTERM)
    out = run.communicate(timeout=120)[0]
    assert run.returncode == 1, out[-3000:]
    assert len(runs(ws)) == 1, runs(ws)  # the running job finished; the other was not started
    assert "snakemake was stopped by SIGTERM: no job failed" in out and "1 job(s) were not started" in out
    assert "At least one job did not complete successfully" not in out
