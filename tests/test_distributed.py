"""Data-parallel training and gradient accumulation: N gloo CPU processes launched by torchrun,
each taking its slice of the same global batches, follow the 1-process run, with and without
accumulation.

Tolerance: weights agree to atol 1e-5 / rtol 1e-4; the only difference is the order of
floating-point reductions when gradients are averaged."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from synscale.train.launch import command

WORKER = Path(__file__).with_name("ddp_worker.py")
WORKER_KW = {"img_size": 16, "patch_size": 4, "embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 2}


def _run(tmp_path, procs, micro):
    out = tmp_path / f"p{procs}m{micro}.pt"
    if procs == 1:
        cmd = [sys.executable, str(WORKER), str(out), str(micro)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
               str(WORKER), str(out), str(micro)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1",
                                                                             "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr[-3000:]
    return torch.load(out, weights_only=False)


@pytest.mark.parametrize("procs,micro", [(1, 8), (2, 8), (2, 4)], ids=["1proc-accum2", "2proc", "2proc-accum2"])
def test_processes_and_accumulation_follow_one_process(tmp_path, procs, micro):
    ref = _run(tmp_path, 1, 16)
    got = _run(tmp_path, procs, micro)
    assert got["stats"]["processes"] == procs and got["stats"]["accumulation"] == 16 // procs // micro
    assert got["stats"]["final_train_loss"] == pytest.approx(ref["stats"]["final_train_loss"], rel=1e-4)
    for k, v in ref["model"].items():
        torch.testing.assert_close(got["model"][k], v, rtol=1e-4, atol=1e-5)
    # and training moved the weights away from the initial ones
    from synscale.train.classifier import build_model

    init = build_model("vit_tiny_patch16_224", 3, 1, WORKER_KW, seed=0).state_dict()
    assert max(float((init[k] - v).abs().max()) for k, v in got["model"].items()) > 1e-3


def test_launch_commands(monkeypatch):
    one = command("spec.json", 1, 4, env={})
    assert one[1:4] == ["-m", "torch.distributed.run", "--standalone"] and "--nproc-per-node=4" in one
    assert one[-3:] == ["-m", "synscale.launch", "spec.json"]
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
