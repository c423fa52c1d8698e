"""A training job killed with SIGKILL mid-way and re-run continues from its last checkpoint (it
does not restart) and ends with the weights of a run that was never interrupted (on the CPU)."""
import copy
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from synscale.data.shards import Sample, write_shard

pytestmark = pytest.mark.subprocess

JOB = """
import json, sys
from synscale.logs import setup
from synscale.steps.train import train_at_scale
setup(None)
a = json.load(open(sys.argv[1]))
train_at_scale(a["cfg"], "real", a["scale"], a["shards"], a["classes"], a["ckpt"], a["json"], threads=1,
               index=a["index"])
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    rng = np.random.default_rng(0)
    for s in range(2):
        samples = []
        for i in range(50):
            c = (s * 50 + i) % 4
            img = rng.integers(0, 40, (16, 16, 1), dtype=np.uint8)
            img[c * 4:c * 4 + 4] += 150
            samples.append(Sample(f"k{s}{i:04d}", img, c))
        write_shard(d / f"train-{s:05d}.tar", samples)
    (d / "classes.json").write_text(json.dumps({"names": ["a", "b", "c", "d"]}))
    from synscale.data.index import index_shards  # the real data's index, as rule index_real_data writes it

    (d / "index.json").write_text(json.dumps(index_shards([str(d / f"train-{s:05d}.tar") for s in range(2)], 4)))
    return d


def _job(tmp_path, data, tiny_cfg, tag):
    cfg = copy.deepcopy(tiny_cfg)
    cfg["data"]["shard_size"] = 50
    cc = cfg["classifier"]
    cc.update(batch_size=16, max_device_batch=8, workers=1, checkpoint_every=5, mixup=0.5, drop_path=0.1,
              schedule={"base_scale": 100, "base_iters": 60, "iters_per_doubling": 0, "min_iters": 1,
                        "base_warmup": 5, "warmup_per_doubling": 0})
    out = tmp_path / tag
    out.mkdir()
    spec = {"cfg": cfg, "scale": 100, "shards": [str(data / f"train-{s:05d}.tar") for s in range(2)],
            "classes": str(data / "classes.json"), "index": str(data / "index.json"),
            "ckpt": str(out / "model.pt"), "json": str(out / "train.json")}
    (out / "args.json").write_text(json.dumps(spec))
    return [sys.executable, "-c", JOB, str(out / "args.json")], out


def _start(cmd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


def test_killed_training_resumes_and_matches(tmp_path, data, tiny_cfg):
    cmd, out = _job(tmp_path, data, tiny_cfg, "killed")
    resume = out / "model.pt.resume"
    proc = _start(cmd)
    deadline = time.time() + 240
    step = 0
    while time.time() < deadline and proc.poll() is None:
        if resume.exists():
            step = torch.load(resume, weights_only=False)["step"]
            if step >= 15:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "the job ended before it could be killed:\n" + proc.stdout.read()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)  # the job and its loader worker
    proc.wait()
    assert not (out / "model.pt").exists() and not (out / "train.json").exists()
    last = torch.load(resume, weights_only=False)["step"]
    assert last >= 15 and last % 5 == 0

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    info = json.loads((out / "train.json").read_text())
    assert info["resumed_from"] == last and info["iters"] == 60
    assert f"resumed from {resume} at step {last} of 60" in rerun.stderr
    assert not resume.exists()

    cmd2, out2 = _job(tmp_path, data, tiny_cfg, "uninterrupted")
    whole = subprocess.run(cmd2, capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert json.loads((out2 / "train.json").read_text())["resumed_from"] == 0
    a = torch.load(out / "model.pt", weights_only=False)["model"]
    b = torch.load(out2 / "model.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
