"""Data-parallel training through the real training jobs: the classifier's (``train_at_scale``)
and CLIP's (``train_arm``), each run once in one process and once on 2 gloo CPU processes that
torchrun starts (the package's launcher and worker; the worker's loader stream is spied on,
``support.spy_worker``, to record the samples every process trains on).

Checked: the processes' samples are disjoint and together are the data, each step's global batch
holds the same samples as the 1-process run's, and the weights end the same.

* Classifier: 4 shards of 16 images, D = 64, global batch 16, 4 steps: one epoch. A loader slot's
  stream depends on the number of slots (processes x loader workers), so the 1-process run reads
  with 2 loader workers and each of the 2 processes with 1: slot s reads the same shards, in the
  same order, with the same augmentation in both. Dropout, stochastic depth and Mixup are off
  (their draws are seeded per rank).
* CLIP: one source shard of 32 captions (fewer parts than slots: every slot keeps every S-th
  caption), shuffle buffer 1 (stream order = shard order), global batch 16, 2 epochs: 4 steps.
  Images are single colours, so the training crop leaves them unchanged. The contrastive loss over
  the gathered batch does not depend on the order of its samples.

Tolerance: weights agree to atol 1e-5 / rtol 1e-4; the only difference is the order of
floating-point reductions (gradient averaging, gathered features). Not compared: the attention's key
biases (their gradient is exactly 0, and Adam scales the rounding noise in it up to steps of
+-lr) and CLIP's train.json loss (rank 0's local part of the contrastive loss)."""
import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support.repo import ROOT, TESTS
from support.spy_worker import read_items, spying

from synscale.data.loader import ShardStream
from synscale.data.shards import Sample, write_shard

pytestmark = pytest.mark.subprocess

SHARDS, PER_SHARD, CLASSES = 4, 16, 4
D = SHARDS * PER_SHARD
STEPS = 4


@pytest.fixture(scope="module")
def cpu_jobs():
    """Jobs on the CPU (gloo) even where a GPU is visible; workers run support.spy_worker."""
    import synscale.device
    import synscale.train.launch as L

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synscale.device, "job_device", lambda: torch.device("cpu"))
        mp.setenv("CUDA_VISIBLE_DEVICES", "")
        mp.setenv("PYTHONPATH", f"{ROOT}:{TESTS}")
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(L, "WORKER_MODULE", "support.spy_worker")
        yield mp


def _spy(monkeypatch, out: Path) -> Path:
    spy = out / "spy"
    spy.mkdir(parents=True)
    monkeypatch.setenv("SYNSCALE_TEST_SPY_DIR", str(spy))
    monkeypatch.setattr(ShardStream, "_train_items", spying(spy))  # the 1-process job runs in this process
    return spy


def _consumed(rows, per_slot: int, by: str) -> dict[int, list[dict]]:
    """Per process (``by='rank'``: 1 loader worker each) or per loader worker of one process
    (``by='slot'``), the samples its stream handed on up to ``per_slot`` (what training took; a
    loader worker may have read ahead), in stream order."""
    out: dict[int, list[dict]] = {}
    for r in sorted(rows, key=lambda r: (r[by], r["pos"])):
        if r["pos"] < per_slot:
            out.setdefault(r[by], []).append(r)
    for who, rs in out.items():
        assert [r["pos"] for r in rs] == list(range(per_slot)), f"{by} {who}: a stream recorded twice or with gaps"
    return out


def _assert_same_weights(got: dict, ref: dict) -> None:
    """Every tensor within the tolerance, but for the attention's key biases (the middle third of a
    fused query-key-value bias): their gradient is exactly 0 (a softmax ignores a constant added to a
    row of its logits), and Adam turns the rounding noise left in it into steps of up to +-lr."""
    assert got.keys() == ref.keys()
    for k, v in ref.items():
        g = got[k]
        if k.endswith(("attn.in_proj_bias", "attn.qkv.bias")):
            n = v.shape[0] // 3
            v, g = torch.cat([v[:n], v[2 * n:]]), torch.cat([g[:n], g[2 * n:]])
        torch.testing.assert_close(g, v, rtol=1e-4, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}")


# --------------------------------------------------------------------------- classifier


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp-data")
    rng = np.random.default_rng(0)
    for s in range(SHARDS):
        samples = []
        for i in range(PER_SHARD):
            c = (s * PER_SHARD + i) % CLASSES
            img = rng.integers(0, 40, (16, 16, 1), dtype=np.uint8)
            img[c * 4:c * 4 + 4] += 150
            samples.append(Sample(f"s{s}-{i:02d}", img, c))
        write_shard(d / f"shard-{s:05d}.tar", samples)
    (d / "classes.json").write_text(json.dumps({"names": ["a", "b", "c", "d"]}))
    return d


def _train_classifier(tmp_path, shards, tiny_cfg, monkeypatch, tag, gpus, workers, max_device_batch):
    from synscale.steps.train import train_at_scale

    cfg = copy.deepcopy(tiny_cfg)
    cfg["generation"]["shard_size"] = PER_SHARD
    cfg["classifier"].update(batch_size=16, max_device_batch=max_device_batch, gpus=gpus, nodes=1, workers=workers,
                             shuffle_buffer=8, checkpoint_every=0, mixup=0.0, dropout=0.0, drop_path=0.0,
                             schedule={"base_scale": D, "base_iters": STEPS, "iters_per_doubling": 0, "min_iters": 1,
                                       "base_warmup": 1, "warmup_per_doubling": 0})
    out = tmp_path / tag
    spy = _spy(monkeypatch, out)
    info = train_at_scale(cfg, "sd_cfg2_incap", D, [str(shards / f"shard-{s:05d}.tar") for s in range(SHARDS)],
                          str(shards / "classes.json"), out / "model.pt", out / "train.json", threads=gpus)
    weights = torch.load(out / "model.pt", weights_only=False)["model"]
    return info, weights, read_items(spy)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, shards, tiny_cfg, cpu_jobs):
    """The 1-process run with micro-batches of ``max_device_batch`` (a batch's augmentation is
    seeded by where it starts in its slot's stream, so the micro-batch size must match)."""
    runs = {}

    def run(max_device_batch):
        if max_device_batch not in runs:
            runs[max_device_batch] = _train_classifier(tmp_path_factory.mktemp("ddp-p1"), shards, tiny_cfg, cpu_jobs,
                                                       "p1", gpus=1, workers=2, max_device_batch=max_device_batch)
        return runs[max_device_batch]

    return run


@pytest.mark.parametrize("max_device_batch,accum", [(8, 1), (4, 2)], ids=["2proc", "2proc-accum2"])
def test_classifier_job_on_two_processes_reads_disjoint_shards_and_follows_one(
        tmp_path, shards, tiny_cfg, cpu_jobs, one_process, max_device_batch, accum):
    ref_info, ref_w, ref_rows = one_process(max_device_batch)
    info, w, rows = _train_classifier(tmp_path, shards, tiny_cfg, cpu_jobs, "p2", gpus=2, workers=1,
                                      max_device_batch=max_device_batch)
    assert (ref_info["processes"], ref_info["accumulation"], ref_info["micro_batch"]) == (1, 2 * accum,
                                                                                          max_device_batch)
    assert (info["processes"], info["accumulation"], info["micro_batch"]) == (2, accum, max_device_batch)
    assert info["iters"] == ref_info["iters"] == STEPS and info["global_batch"] == 16

    per_slot = STEPS * 16 // 2  # 2 slots share each global batch: 32 samples each, one epoch
    mine = _consumed(rows, per_slot, by="rank")
    assert sorted(mine) == [0, 1]
    keys = {rank: [r["key"] for r in mine[rank]] for rank in mine}
    assert all(r["epoch"] == 0 for rank in mine for r in mine[rank])
    # each process reads two whole shards of its own; together they are the 64 images, each once
    shards_of = {rank: sorted({k.split("-")[0] for k in keys[rank]}) for rank in keys}
    assert len(shards_of[0]) == len(shards_of[1]) == 2 and not set(shards_of[0]) & set(shards_of[1])
    assert len(set(keys[0])) == len(set(keys[1])) == 32 and not set(keys[0]) & set(keys[1])
    assert set(keys[0]) | set(keys[1]) == {f"s{s}-{i:02d}" for s in range(SHARDS) for i in range(PER_SHARD)}
    assert [{r["slot"] for r in mine[rank]} for rank in (0, 1)] == [{0}, {1}]  # process r is slot r of 2
    # the 1-process run's two loader workers (slots 0 and 1) read the same samples in the same order
    ref = _consumed(ref_rows, per_slot, by="slot")
    assert {s: [r["key"] for r in ref[s]] for s in ref} == keys
    assert {r["rank"] for s in ref for r in ref[s]} == {0}

    assert info["final_train_loss"] == pytest.approx(ref_info["final_train_loss"], rel=1e-4)
    _assert_same_weights(w, ref_w)
    from synscale.seeds import seed_for
    from synscale.train.classifier import build_model

    init = build_model("vit_tiny_patch16_224", CLASSES, 1, tiny_cfg["classifier"]["kwargs"],
                       seed=seed_for(tiny_cfg["seed"], "train", "sd_cfg2_incap", D)).state_dict()
    assert max(float((init[k] - v).abs().max()) for k, v in w.items()) > 1e-3  # training moved the weights


# --------------------------------------------------------------------------- CLIP

CAPTIONS = 32
TINY_CLIP = {"name": "synscale-test-clip-ddp",
             "config": {"embed_dim": 16, "vision_cfg": {"image_size": 16, "patch_size": 8, "width": 16, "layers": 1,
                                                        "head_width": 8},
                        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2,
                                     "layers": 1}}}
COLOURS = ["red", "green", "blue", "grey"]


@pytest.fixture(scope="module")
def caption_block(tmp_path_factory):
    """One source shard of 32 captioned single-colour images, and its block table."""
    import pandas as pd

    d = tmp_path_factory.mktemp("ddp-clip")
    rgb = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200), "grey": (120, 120, 120)}
    keys, caps, samples = [], [], []
    for i in range(CAPTIONS):
        c = COLOURS[i % 4]
        shade = 1 - 0.02 * (i // 4)
        img = np.empty((16, 16, 3), np.uint8)
        img[:] = [int(v * shade) for v in rgb[c]]
        keys.append(f"{i:05d}")
        caps.append(f"a {c} square number {i}")
        samples.append(Sample(keys[-1], img, -1, caps[-1]))
    src = d / "src-00000.tar"
    write_shard(src, samples)
    pd.DataFrame({"key": keys, "caption": caps, "class_index": [-1] * CAPTIONS,
                  "shard": [str(src)] * CAPTIONS}).to_parquet(d / "block-00000.parquet")
    return d / "block-00000.parquet"


def _train_clip(tmp_path, block, monkeypatch, tag, gpus):
    from synscale.steps.clip import train_arm

    recipe = {"name": "S", "from_scale": 0, "batch_size": 16, "lr": 1e-3, "weight_decay": 0.1, "warmup": 1,
              "betas": [0.9, 0.98], "eps": 1e-6}
    cfg = {"seed": 0, "results": str(tmp_path), "clip": {"model": TINY_CLIP, "train": {
        "epochs": 2, "amp": None, "nodes": 1, "gpus": gpus, "max_device_batch": 64, "workers": 0,
        "shuffle_buffer": 1, "checkpoint_every": 0, "recipes": [recipe]}}}
    run = {"name": "real_x", "arm": "real", "dataset": "x", "twins": None}
    out = tmp_path / tag
    spy = _spy(monkeypatch, out)
    info = train_arm(cfg, run, CAPTIONS, [str(block)], [], str(out / "model.pt"), str(out / "train.json"),
                     threads=gpus)
    weights = torch.load(out / "model.pt", weights_only=False)["state_dict"]
    return info, weights, read_items(spy)


def test_clip_job_on_two_processes_reads_disjoint_captions_and_follows_one(tmp_path, caption_block, cpu_jobs):
    ref_info, ref_w, ref_rows = _train_clip(tmp_path, caption_block, cpu_jobs, "p1", gpus=1)
    info, w, rows = _train_clip(tmp_path, caption_block, cpu_jobs, "p2", gpus=2)
    assert (ref_info["processes"], info["processes"]) == (1, 2)
    assert ref_info["steps"] == info["steps"] == 4  # ceil(2 epochs x 32 captions / 16)

    every = [f"{i:05d}" for i in range(CAPTIONS)]
    ref = _consumed(ref_rows, 4 * 16, by="slot")[0]  # one slot: the shard in order, twice
    assert [r["key"] for r in ref] == every + every and [r["epoch"] for r in ref] == [0] * 32 + [1] * 32
    mine = _consumed(rows, 4 * 8, by="rank")
    assert sorted(mine) == [0, 1]
    for epoch in (0, 1):
        k = {s: [r["key"] for r in mine[s] if r["epoch"] == epoch] for s in (0, 1)}
        assert k[0] == every[0::2] and k[1] == every[1::2], epoch  # disjoint; together every caption once
    # step t's global batch: the 1-process run's 16 captions, 8 from each process
    for t in range(4):
        both = {r["key"] for s in (0, 1) for r in mine[s][8 * t:8 * t + 8]}
        assert both == {r["key"] for r in ref[16 * t:16 * t + 16]}, t

    # (train.json's final_train_loss is rank 0's local part of the contrastive loss, not comparable)
    assert info["temperature"] == pytest.approx(ref_info["temperature"], rel=1e-5)
    _assert_same_weights(w, ref_w)
    from synscale.clip.model import build_model
    from synscale.seeds import seed_for

    init, _ = build_model(TINY_CLIP, seed=seed_for(0, "clip", "real_x", CAPTIONS))
    moved = max(float((init.state_dict()[k] - v).abs().max()) for k, v in w.items() if k != "logit_scale")
    assert moved > 1e-4
