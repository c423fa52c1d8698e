"""Data-parallel training: 2 CPU processes (gloo) follow the 1-process run.

Tolerance: final logits agree to atol 1e-4 and the final loss to 1e-4 relative; the only
difference is the order of floating-point reductions when gradients are averaged."""
import json
import math

import numpy as np
import pytest
import torch

from synscale import config as C
from synscale.shards import Sample, write_shard
from synscale.steps import train as train_step

TOL = 1e-4


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, tiny_cfg):
    d = tmp_path_factory.mktemp("ddp")
    rng = np.random.default_rng(0)
    samples = []
    for i in range(120):
        img = rng.integers(0, 40, (16, 16, 1), dtype=np.uint8)
        c = i % 10
        img[c:c + 4, 2:14] += 150
        samples.append(Sample(f"k{i:05d}", img, c))
    write_shard(d / "s.tar", samples)
    (d / "classes.json").write_text(json.dumps({"names": [str(i) for i in range(10)]}))
    return d


def _train(cfg, d, gpus, tag):
    import copy

    cfg = copy.deepcopy(cfg)
    cfg["classifier"]["gpus"] = gpus
    cfg["classifier"]["batch_size"] = 32
    cfg["classifier"]["lr"] = 0.005
    cfg["classifier"]["schedule"] = {"base_scale": 100, "base_iters": 80, "iters_per_doubling": 0}
    cfg = C.validate(cfg)
    train_step.train_at_scale(cfg, "real", 100, [d / "s.tar"], d / "classes.json", d / f"{tag}.pt", d / f"{tag}.json",
                          threads=gpus)
    return json.loads((d / f"{tag}.json").read_text())


def test_two_processes_match_one(toy_run, tiny_cfg):
    from synscale.classifier import load_checkpoint, logits
    from synscale.shards import read_shard

    one = _train(tiny_cfg, toy_run, 1, "one")
    two = _train(tiny_cfg, toy_run, 2, "two")
    assert one["processes"] == 1 and two["processes"] == 2
    assert two["final_train_loss"] == pytest.approx(one["final_train_loss"], rel=TOL)
    cc = tiny_cfg["classifier"]
    x = read_shard(toy_run / "s.tar").images
    l1 = logits(load_checkpoint(toy_run / "one.pt", cc["arch"], 10, 1, cc["kwargs"]), x)
    l2 = logits(load_checkpoint(toy_run / "two.pt", cc["arch"], 10, 1, cc["kwargs"]), x)
    torch.testing.assert_close(l1, l2, atol=TOL, rtol=TOL)
    # and training did something
    assert one["final_train_loss"] < math.log(10) - 0.05  # below chance


def test_batch_must_split_evenly(toy_run, tiny_cfg):
    from synscale.classifier import build_model, train

    with pytest.raises(ValueError, match="divisible"):
        train(build_model("resnet10t", 2, 1), np.zeros((4, 16, 16, 1), np.uint8), np.zeros(4), 1, 0, 5, 1e-3, 0.0,
              0, world_size=2)
