import numpy as np
import pytest
import torch

from synscale.t2i import tiny
from synscale.train import classifier as K
from synscale.train import resume as resume_ckpt


def _toy(n=200, seed=0):
    """Two easily separable classes: bright top half vs bright bottom half."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, (n, 16, 16, 1), dtype=np.uint8)
    y = np.arange(n) % 2
    x[y == 0, :8] += 150
    x[y == 1, 8:] += 150
    return x, y


KW = {"img_size": 16, "patch_size": 4, "embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 2}


def _shard(tmp_path, n=200, seed=0):
    from synscale.data.loader import ShardPart
    from synscale.data.shards import Sample, write_shard

    x, y = _toy(n, seed)
    write_shard(tmp_path / "toy.tar", (Sample(f"k{i:05d}", x[i], int(y[i])) for i in range(n)))
    return [ShardPart(str(tmp_path / "toy.tar"))], x, y


def _cc(**over):
    cc = {"batch_size": 16, "max_device_batch": 16, "nodes": 1, "gpus": 1,
          "optimizer": {"name": "adamw", "betas": [0.9, 0.999], "eps": 1e-8}, "lr": 3e-3, "weight_decay": 0.05,
          "warmup_lr": 1e-6, "min_lr": 0.0, "loss": "bce", "label_smoothing": 0.0, "mixup": 0.0, "input_size": 16,
          "augment": None}
    cc.update(over)
    return cc


def _loader(parts, recipe, seed, start_batch=0, augment=None, workers=0):
    from synscale.data.loader import make_loader, train_transform

    return make_loader(parts, recipe.micro_batch, 16, 1, train_transform(16, 1, augment), train=True, seed=seed,
                       start_batch=start_batch, workers=workers, shuffle_buffer=50)


AUG = {"crop_scale": [0.7, 1.0], "crop_ratio": [0.85, 1.18], "hflip": 0.0, "randaugment": "rand-m5-n1"}


@pytest.mark.subprocess  # 60 steps, with a DataLoader worker process
def test_training_learns_and_evaluates(tmp_path):
    from synscale.config import recipes as R
    parts, x, y = _shard(tmp_path)
    m = K.build_model("vit_tiny_patch16_224", 2, 1, KW, seed=0)
    before = K.evaluate(m, x, y, 2)
    r = R.build(_cc(batch_size=32, max_device_batch=32, mixup=0.2), iters=60, warmup=5)
    stats = K.train_loop(m, _loader(parts, r, 0, augment=AUG, workers=1), r, 2, seed=0)
    after = K.evaluate(m, x, y, 2)
    assert after["loss"] < before["loss"] and after["top1"] > 0.9
    assert stats["iters"] == 60 and len(after["per_class_top1"]) == 2


@pytest.mark.subprocess  # trains resnet10t twice, with RandAugment
def test_same_seed_same_weights(tmp_path):
    from synscale.config import recipes as R
    parts, x, _ = _shard(tmp_path, 64)
    r = R.build(_cc(mixup=0.5), iters=5, warmup=1)
    outs = []
    for _ in range(2):
        m = K.build_model("resnet10t", 2, 1, seed=123)
        torch.manual_seed(999)  # global state must not matter
        K.train_loop(m, _loader(parts, r, 5, augment=AUG), r, 2, seed=5)
        outs.append(K.logits(m, x[:8]))
    torch.testing.assert_close(outs[0], outs[1])


@pytest.mark.subprocess  # a 10-step run, then the same run stopped and resumed
def test_resume_matches_uninterrupted(tmp_path):
    """Stopped after step 6 with checkpoints every 3 steps, the re-run continues from step 6 with
    the loader positioned there, and ends with the uninterrupted run's weights."""
    from synscale.config import recipes as R
    parts, x, _ = _shard(tmp_path, 64)
    r = R.build(_cc(mixup=0.5, batch_size=16, max_device_batch=8), iters=10, warmup=2)
    assert r.accum == 2
    kw = {**KW, "drop_path_rate": 0.1, "proj_drop_rate": 0.1}
    ref = K.build_model("vit_tiny_patch16_224", 2, 1, kw, seed=3)
    K.train_loop(ref, _loader(parts, r, 1, augment=AUG), r, 2, seed=1)

    class Stop(Exception):
        pass

    def killer(step, loss):
        if step == 6:
            raise Stop

    resume = tmp_path / "state.resume"
    m = K.build_model("vit_tiny_patch16_224", 2, 1, kw, seed=3)
    with pytest.raises(Stop):
        K.train_loop(m, _loader(parts, r, 1, augment=AUG), r, 2, seed=1, resume_path=resume, checkpoint_every=3,
                     progress=killer)
    state = resume_ckpt.load_resume(resume, K.resume_identity(r, 1, 1))
    assert state["step"] == 6 and state["data"] == {"micro_batches_per_rank": 12}
    m2 = K.build_model("vit_tiny_patch16_224", 2, 1, kw, seed=3)
    stats = K.train_loop(m2, _loader(parts, r, 1, start_batch=12, augment=AUG), r, 2, seed=1, resume_path=resume,
                         checkpoint_every=3)
    assert stats["resumed_from"] == 6
    torch.testing.assert_close(K.logits(m2, x), K.logits(ref, x), rtol=1e-5, atol=1e-6)


def test_resume_ignores_another_jobs_checkpoint(tmp_path):
    from synscale.config import recipes as R

    r = R.build(_cc(), iters=10, warmup=2)
    torch.save({"identity": K.resume_identity(r, 1, 1), "step": 4}, tmp_path / "a.resume")
    assert resume_ckpt.load_resume(tmp_path / "a.resume", K.resume_identity(r, 1, 1))["step"] == 4
    assert resume_ckpt.load_resume(tmp_path / "a.resume", K.resume_identity(r, 2, 1)) is None  # other seed
    (tmp_path / "b.resume").write_bytes(b"garbage")
    assert resume_ckpt.load_resume(tmp_path / "b.resume", K.resume_identity(r, 1, 1)) is None


def test_accumulation_matches_one_big_batch():
    """Two accumulated micro-batches of 8 give the step of one batch of 16."""
    from synscale.config import recipes as R

    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(16, 1, 16, 16, generator=g), torch.randint(0, 2, (16,), generator=g)) for _ in range(6)]
    out = []
    for micro in (16, 8):
        r = R.build(_cc(batch_size=16, max_device_batch=micro), iters=6, warmup=1)
        feed = [(x[i:i + micro], y[i:i + micro]) for x, y in batches for i in range(0, 16, micro)]
        m = K.build_model("vit_tiny_patch16_224", 2, 1, KW, seed=0)
        stats = K.train_loop(m, feed, r, 2, seed=0)
        assert stats["accumulation"] == 16 // micro
        out.append(m.state_dict())
    for k in out[0]:
        torch.testing.assert_close(out[0][k], out[1][k], rtol=1e-4, atol=1e-5)


def test_lr_schedule():
    assert tiny.lr_at(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert tiny.lr_at(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert tiny.lr_at(99, 100, 10, 1.0) < 0.01


def test_checkpoint_roundtrip_and_errors(tmp_path):
    m = K.build_model("resnet10t", 3, 1)
    p = tmp_path / "m.pt"
    K.save_checkpoint(m, p, {"arch": "resnet10t"})
    m2 = K.load_checkpoint(p, "resnet10t", 3, 1)
    x = np.zeros((2, 16, 16, 1), np.uint8)
    torch.testing.assert_close(K.logits(m, x), K.logits(m2, x))
    with pytest.raises(ValueError, match="do not fit"):
        K.load_checkpoint(p, "resnet10t", 5, 1)
    with pytest.raises(FileNotFoundError, match="reference_classifier.path"):
        K.load_checkpoint(tmp_path / "nope.pt", "resnet10t", 3, 1, key="reference_classifier.path")
    with pytest.raises(ValueError, match="timm cannot build"):
        K.build_model("no_such_net", 3, 1)


def test_features_are_pre_logits():
    m = K.build_model("vit_tiny_patch16_224", 2, 1, KW)
    x = K.to_input(np.zeros((3, 16, 16, 1), np.uint8))
    lg, y, f = K.predict(m, [(x, torch.zeros(3, dtype=torch.long))], features=True)
    assert f.shape == (3, 32) and lg.shape == (3, 2) and y.tolist() == [0, 0, 0]
    torch.testing.assert_close(m.get_classifier()(f), lg)
