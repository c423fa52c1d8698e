"""Data-parallel training and gradient accumulation: N gloo CPU processes launched by torchrun,
each taking its slice of the same global batches, follow the 1-process run, with and without
accumulation.

Tolerance: weights agree to atol 1e-5 / rtol 1e-4; the only difference is the order of
floating-point reductions when gradients are averaged."""
import subprocess
import sys

import pytest
import torch
from support.repo import TESTS

pytestmark = pytest.mark.subprocess

WORKER = TESTS / "support" / "ddp_worker.py"
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
