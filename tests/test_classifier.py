import numpy as np
import pytest
import torch

from synscale import classifier as K


def _toy(n=200, seed=0):
    """Two easily separable classes: bright top half vs bright bottom half."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, (n, 16, 16, 1), dtype=np.uint8)
    y = np.arange(n) % 2
    x[y == 0, :8] += 150
    x[y == 1, 8:] += 150
    return x, y


KW = {"img_size": 16, "patch_size": 4, "embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 2}


def test_training_learns_and_evaluates():
    torch.manual_seed(0)
    x, y = _toy()
    m = K.build_model("vit_tiny_patch16_224", 2, 1, KW)
    before = K.evaluate(m, x, y, 2)
    stats = K.train(m, x, y, iters=60, warmup=5, batch_size=32, lr=3e-3, weight_decay=0.05, seed=0)
    after = K.evaluate(m, x, y, 2)
    assert after["loss"] < before["loss"] and after["top1"] > 0.9
    assert stats["iters"] == 60 and len(after["per_class_top1"]) == 2


def test_same_seed_same_weights():
    x, y = _toy(64)
    outs = []
    for _ in range(2):
        m = K.build_model("resnet10t", 2, 1, seed=123)
        torch.manual_seed(999)  # global state must not matter
        K.train(m, x, y, iters=5, warmup=1, batch_size=16, lr=1e-3, weight_decay=0.0, seed=5)
        outs.append(K.logits(m, x[:8]))
    torch.testing.assert_close(outs[0], outs[1])


def test_resume_matches_uninterrupted(tmp_path):
    x, y = _toy(64)
    torch.manual_seed(0)
    ref = K.build_model("vit_tiny_patch16_224", 2, 1, KW)
    init = {k: v.clone() for k, v in ref.state_dict().items()}
    K.train(ref, x, y, iters=10, warmup=2, batch_size=16, lr=1e-3, weight_decay=0.0, seed=1, augment=True)

    class Stop(Exception):
        pass

    def killer(step, loss):
        if step == 6:
            raise Stop

    m = K.build_model("vit_tiny_patch16_224", 2, 1, KW)
    m.load_state_dict(init)
    resume = tmp_path / "state.resume"
    with pytest.raises(Stop):
        K.train(m, x, y, iters=10, warmup=2, batch_size=16, lr=1e-3, weight_decay=0.0, seed=1, augment=True,
                resume_path=resume, checkpoint_every=3, progress=killer)
    assert resume.exists()
    m2 = K.build_model("vit_tiny_patch16_224", 2, 1, KW)
    stats = K.train(m2, x, y, iters=10, warmup=2, batch_size=16, lr=1e-3, weight_decay=0.0, seed=1, augment=True,
                    resume_path=resume, checkpoint_every=3)
    assert stats["resumed_from"] == 6 and not resume.exists()
    torch.testing.assert_close(K.logits(m2, x), K.logits(ref, x), rtol=1e-4, atol=1e-5)


def test_random_shift_moves_content():
    g = torch.Generator().manual_seed(0)
    x = -torch.ones(4, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1
    y = K.random_shift(x, g, 2)
    assert y.shape == x.shape
    assert torch.allclose((y > 0).float().sum((1, 2, 3)), torch.full((4,), 4.0))


def test_lr_schedule():
    assert K.lr_at(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert K.lr_at(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert K.lr_at(99, 100, 10, 1.0) < 0.01


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
    f = K.features(m, np.zeros((3, 16, 16, 1), np.uint8))
    assert f.shape == (3, 32)
