"""How a training job is spread over processes: the torchrun (and, across nodes, srun) command
lines, and the global batch split into per-process micro-batches with gradient accumulation.
(Training on several processes for real: tests/workflow/test_distributed.py.)"""
import subprocess
import sys

import pytest

from synscale.train.launch import command


def test_launch_commands(monkeypatch):
    one = command("spec.json", 1, 4, env={})
    assert one[1:4] == ["-m", "torch.distributed.run", "--standalone"] and "--nproc-per-node=4" in one
    assert one[-3:] == ["-m", "synscale.train.launch", "spec.json"]
    with pytest.raises(RuntimeError, match="classifier.nodes=2.*not in a SLURM allocation"):
        command("spec.json", 2, 4, env={})
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, "gpu-a\ngpu-b\n", ""))
    multi = command("spec.json", 2, 4, env={"SLURM_JOB_ID": "1234", "SLURM_JOB_NODELIST": "gpu-[a-b]"})
    assert multi[:5] == ["srun", "--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    assert "--nnodes=2" in multi and "--rdzv-endpoint=gpu-a:29734" in multi and "--rdzv-id=1234" in multi


def test_batch_must_split_evenly():
    from synscale.config.recipes import split_batch

    assert split_batch(4096, 8, 256) == (256, 2)
    assert split_batch(4096, 16, 512) == (256, 1)
    assert split_batch(96, 1, 40) == (32, 3)
    with pytest.raises(ValueError, match="divisible"):
        split_batch(10, 3, 8)


def test_the_worker_module_runs_as_a_program(tmp_path):
    """The module the workers are started with exists and runs (it reads the spec it is given):
    a renamed module would leave every multi-process job dying with 'No module named ...'."""
    from support.repo import ROOT, repo_env

    module = command("spec.json", 1, 2, env={})[-2]
    missing = tmp_path / "no-such-spec.json"
    p = subprocess.run([sys.executable, "-m", module, str(missing)], capture_output=True, text=True,
                       env=repo_env(), cwd=ROOT, timeout=120)
    assert p.returncode != 0
    assert "No module named" not in p.stderr and "no-such-spec.json" in p.stderr
