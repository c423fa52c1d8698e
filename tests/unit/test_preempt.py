"""A training process that gets SIGUSR1 mid-way (sent to its process group, as SLURM signals every
process of a job before its time limit) writes its resume checkpoint atomically, exits with status 75,
and its re-run resumes from that step and ends with the weights of a run never interrupted; its
loss CSV holds every step once. For the classifier (with a DataLoader worker) and for CLIP."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from synscale.train.losslog import LossLog
from synscale.train.preempt import PREEMPTED

pytestmark = pytest.mark.subprocess

STEPS = 40

JOB = r"""
import json, sys, time
import torch
torch.set_num_threads(1)
from synscale.logs import setup
setup(None)
kind, out, slow = sys.argv[1], sys.argv[2], float(sys.argv[3])
resume = out + "/model.pt.resume"

def progress(step, loss):
    print("step", step + 1, flush=True)
    time.sleep(slow)

if kind == "classifier":
    from support_data import classifier_job
    model, stats = classifier_job(resume, progress)
else:
    from support_data import clip_job
    model, stats = clip_job(resume, progress)
torch.save(model.state_dict(), out + "/model.pt")
json.dump(stats, open(out + "/stats.json", "w"))
"""

SUPPORT = r"""
import numpy as np
import torch

STEPS = %d
KW = {"img_size": 16, "patch_size": 4, "embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 2,
      "drop_path_rate": 0.1, "proj_drop_rate": 0.1}


def classifier_job(resume, progress):
    from synscale.config import recipes as R
    from synscale.data.loader import ShardPart, make_loader, train_transform
    from synscale.data.shards import Sample, write_shard
    from synscale.train import classifier as K
    from synscale.train.resume import load_resume
    import os
    shard = os.path.join(os.path.dirname(resume), "..", "toy.tar")
    if not os.path.exists(shard):
        rng = np.random.default_rng(0)
        x = rng.integers(0, 40, (64, 16, 16, 1), dtype=np.uint8)
        y = np.arange(64) %% 2
        x[y == 0, :8] += 150
        write_shard(shard + ".tmp", (Sample(f"k{i:05d}", x[i], int(y[i])) for i in range(64)))
        os.replace(shard + ".tmp", shard)
    cc = {"batch_size": 16, "max_device_batch": 8, "nodes": 1, "gpus": 1,
          "optimizer": {"name": "adamw", "betas": [0.9, 0.999], "eps": 1e-8}, "lr": 3e-3, "weight_decay": 0.05,
          "warmup_lr": 1e-6, "min_lr": 0.0, "loss": "bce", "label_smoothing": 0.0, "mixup": 0.5, "input_size": 16,
          "augment": None}
    r = R.build(cc, iters=STEPS, warmup=3)
    state = load_resume(resume, K.resume_identity(r, 1, 1))
    start = state["step"] if state else 0
    loader = make_loader([ShardPart(shard)], r.micro_batch, 16, 1, train_transform(16, 1, None), train=True, seed=1,
                         start_batch=start * r.accum, workers=1, shuffle_buffer=50)
    model = K.build_model("vit_tiny_patch16_224", 2, 1, KW, seed=3)
    stats = K.train_loop(model, loader, r, 2, seed=1, resume_path=resume, checkpoint_every=100, progress=progress)
    return model, stats


def clip_job(resume, progress):
    from synscale.clip import model as K
    from synscale.config.recipes import ClipRecipe
    from synscale.train.resume import load_resume
    tiny = {"name": "synscale-test-clip",
            "config": {"embed_dim": 16, "vision_cfg": {"image_size": 16, "patch_size": 8, "width": 16, "layers": 1,
                                                       "head_width": 8},
                       "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2,
                                    "layers": 1}}}
    r = ClipRecipe("t", 8, 1e-3, 0.1, (0.9, 0.98), 1e-6, 2, 1, STEPS, 1, 8)
    g = torch.Generator().manual_seed(0)
    _, tok = K.build_model(tiny, seed=0)
    batches = [(torch.randn(8, 3, 16, 16, generator=g), tok([f"digit {i} {j}" for j in range(8)]))
               for i in range(STEPS)]
    state = load_resume(resume, K.resume_identity(r, 1))
    start = state["step"] if state else 0
    model = K.build_model(tiny, seed=1)[0]
    stats = K.train_loop(model, iter(batches[start:]), r, seed=1, resume_path=resume, checkpoint_every=100,
                         progress=progress)
    return model, stats
""" % STEPS


def _run(tmp_path, kind, tag, slow=0.0):
    out = tmp_path / tag
    out.mkdir()
    (tmp_path / "support_data.py").write_text(SUPPORT)
    (tmp_path / "job.py").write_text(JOB)
    path = f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    cmd = [sys.executable, str(tmp_path / "job.py"), kind, str(out), str(slow)]
    return cmd, env, out


def _steps_of(csv_path):
    with open(csv_path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["step", "loss", "lr"]
    return [int(r[0]) for r in rows[1:]]


@pytest.mark.slow  # three training processes each, about 30 s
@pytest.mark.parametrize("kind", ["classifier", "clip"])
def test_signal_checkpoints_exits_75_and_the_retry_matches(tmp_path, kind):
    cmd, env, out = _run(tmp_path, kind, "stopped", slow=0.1)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines = []
    deadline = time.time() + 120
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("step 5"):
            os.killpg(proc.pid, signal.SIGUSR1)  # the job and its loader worker, as SLURM does
            break
        assert time.time() < deadline, "".join(lines)
    rest = proc.communicate(timeout=120)[0]
    log = "".join(lines) + rest
    assert proc.returncode == PREEMPTED, log[-3000:]
    resume = out / "model.pt.resume"
    state = torch.load(resume, weights_only=True)
    stopped = state["step"]
    assert 5 <= stopped < STEPS
    assert f"stopped on a signal at step {stopped} of {STEPS} (SIGUSR1)" in log
    # written atomically: only the final file, no temporary left beside it; no final weights yet
    # (beside it the loss curve, as a CSV and as TensorBoard events)
    assert sorted(p.name for p in out.iterdir()) == ["model.pt.loss.csv", "model.pt.resume", "model.pt.tb"]
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "model.pt.tb").iterdir())
    assert _steps_of(out / "model.pt.loss.csv") == list(range(1, stopped + 1))

    retry = subprocess.run(cmd[:-1] + ["0"], env=env, capture_output=True, text=True, timeout=300)
    assert retry.returncode == 0, retry.stdout[-2000:] + retry.stderr[-3000:]
    assert f"resumed from {resume} at step {stopped} of {STEPS}" in retry.stderr
    assert json.loads((out / "stats.json").read_text())["resumed_from"] == stopped
    assert _steps_of(out / "model.pt.loss.csv") == list(range(1, STEPS + 1))

    cmd2, env2, out2 = _run(tmp_path, kind, "whole")
    whole = subprocess.run(cmd2, env=env2, capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-3000:]
    a = torch.load(out / "model.pt", weights_only=True)
    b = torch.load(out2 / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_loss_csv_drops_rows_past_the_resume_step(tmp_path):
    """Rows written after the checkpoint a job resumes from are dropped: no step twice; a row holds
    the mean loss since the previous row."""
    path = tmp_path / "m.pt.loss.csv"
    with LossLog(path, 0, 10, every=2) as log:
        for s in range(1, 8):
            log(s, float(s), 0.1 * s)
    assert _steps_of(path) == [2, 4, 6]
    with LossLog(path, 4, 10, every=2) as log:  # resumed from the checkpoint at step 4
        for s in range(5, 11):
            log(s, float(s), 0.1)
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    assert [int(r[0]) for r in rows] == [2, 4, 6, 8, 10]
    assert [float(r[1]) for r in rows] == [1.5, 3.5, 5.5, 7.5, 9.5]
    with LossLog(path, 0, 10) as log:  # a fresh start replaces the file
        log(1, 2.0, 0.5)
    assert _steps_of(path) == [1]


def test_tensorboard_events_beside_the_csv_purged_past_the_resume_step(tmp_path):
    """Where tensorboard is installed (envs/requirements.txt), the rows also go to event files in
    ``<output>.tb/``; a resumed job's events replace those past its checkpoint, as TensorBoard
    reads them back."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = tmp_path / "m.pt.loss.csv"
    with LossLog(path, 0, 10, every=2) as log:
        for s in range(1, 8):
            log(s, float(s), 0.1 * s)
    with LossLog(path, 4, 10, every=2) as log:  # resumed from the checkpoint at step 4
        for s in range(5, 11):
            log(s, 10.0 * s, 0.1)
    events = EventAccumulator(str(tmp_path / "m.pt.tb"))
    events.Reload()
    loss = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert loss == [(2, 1.5), (4, 3.5), (6, 55.0), (8, 75.0), (10, 95.0)]
    assert [e.step for e in events.Scalars("train/lr")] == [2, 4, 6, 8, 10]


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    from support.assets import save_tiny_sd

    return save_tiny_sd(tmp_path_factory.mktemp("sd") / "sd", image_size=32)


def test_a_killed_generation_job_samples_only_its_missing_parts(tmp_path, root, tiny_sd, monkeypatch, caplog):
    """Killed while sampling its third part, the re-run keeps the two finished parts, samples the
    other three and writes the shard an uninterrupted job writes; a part of another job is sampled again."""
    import logging

    import numpy as np
    import pandas as pd

    from synscale import config as C
    from synscale.steps import generate as G
    from synscale.t2i import generate as T

    cfg = C.validate(C.load_yaml(root / "tests" / "configs" / "paperlike.yaml"))
    cfg["models"]["sd"]["batch_size"] = 2
    twins = {"name": "sd_cfg1.5_laion", "model": "sd", "guidance": 1.5, "prompt": "laion", "twins": True}
    block = tmp_path / "block-00000.parquet"
    pd.DataFrame({"key": [f"{i:09d}" for i in range(10)], "caption": [f"a digit {i}" for i in range(10)],
                  "class_index": [-1] * 10, "shard": ["x.tar"] * 10}).to_parquet(block)
    assert G.part_batches(5) == [[0], [1], [2], [3], [4]] and G.part_batches(40)[0] == [0, 1, 2]
    torch.set_num_threads(1)
    real = T.sample_images
    sampled = []

    def counting(*a, batches=None, **k):
        if len(sampled) == 2 and kill:
            raise KeyboardInterrupt("killed")  # as a job killed mid-way: the part being sampled is lost
        sampled.append(list(batches))
        return real(*a, batches=batches, **k)

    monkeypatch.setattr(T, "sample_images", counting)

    def job(tag):
        out = tmp_path / tag
        return G.generate_images(cfg, twins, 0, tiny_sd, block, tmp_path / "unused.json", out / "shard-00000.tar",
                                 out / "shard-00000.json")

    kill = True
    with pytest.raises(KeyboardInterrupt):
        job("killed")
    parts = sorted(p.name for p in (tmp_path / "killed").glob("*.npz"))
    assert parts == ["shard-00000.tar.part-0000.npz", "shard-00000.tar.part-0001.npz"]
    assert not (tmp_path / "killed" / "shard-00000.tar").exists()
    # a stale part of another job (other prompts) in the place of part 4 is not taken
    np.savez(tmp_path / "killed" / "shard-00000.tar.part-0004.npz", images=np.zeros((2, 16, 16, 1), np.uint8),
             batches=np.asarray([4]), identity="another job", device="{}", sampling="{}")
    kill, sampled[:] = False, []
    with caplog.at_level(logging.INFO, logger="synscale"):
        man = job("killed")
    assert sampled == [[2], [3], [4]]
    assert "kept 2 of 5 parts from an earlier attempt; sampling the missing 3" in caplog.text
    assert not list((tmp_path / "killed").glob("*.npz"))
    sampled[:] = []
    whole = job("whole")
    assert sampled == [[0], [1], [2], [3], [4]]
    assert man["count"] == 10 and man["sha256"] == whole["sha256"]


def test_inside_a_slurm_job_the_warning_is_ignored_by_what_starts_the_training():
    """resources.smk's call: inside an allocation (SLURM_JOB_ID) the job's Snakemake ignores SIGUSR1,
    and a process it starts inherits that (so the warning, sent to every process of the job, ends
    none of them); outside SLURM nothing changes."""
    code = ("import signal, subprocess, sys\n"
            "from synscale.train.preempt import ignore_warning_in_job\n"
            "print(ignore_warning_in_job())\n"
            "child = 'import signal; print(signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN)'\n"
            "print(subprocess.run([sys.executable, '-c', child], capture_output=True, text=True).stdout.strip())\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    outside = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    inside = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**env, "SLURM_JOB_ID": "42"})
    assert outside.stdout.split() == ["False", "False"], outside.stderr
    assert inside.stdout.split() == ["True", "True"], inside.stderr
