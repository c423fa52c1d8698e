import numpy as np
import pytest

from synscale.measure.quality import per_class_diversity, per_class_f1


def test_f1_perfect_and_confused():
    y = np.array([0, 0, 1, 1])
    assert per_class_f1(y, y, 2).tolist() == [1.0, 1.0]
    f1 = per_class_f1(np.array([0, 0, 0, 1]), y, 2)
    assert f1[0] == pytest.approx(0.8) and f1[1] == pytest.approx(2 / 3)
    assert per_class_f1(np.zeros(4, int), y, 3)[2] == 0.0


def test_diversity_tracks_spread():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 500)
    f = np.concatenate([rng.normal(0, 1, (500, 8)), rng.normal(0, 3, (500, 8))])
    d = per_class_diversity(f, y, 2)
    assert d[0] == pytest.approx(1, rel=0.1) and d[1] == pytest.approx(3, rel=0.1)
    assert np.isnan(per_class_diversity(f, y, 3)[2])


def test_measure_with_a_timm_model():
    import torch

    from synscale.measure.quality import measure
    from synscale.train.classifier import build_model, predict, to_input

    m = build_model("resnet10t", 3, 1, seed=0)
    imgs = np.random.default_rng(0).integers(0, 255, (12, 16, 16, 1), dtype=np.uint8)
    y = torch.as_tensor(np.arange(12) % 3)
    lg, y, f = predict(m, [(to_input(imgs[:5]), y[:5]), (to_input(imgs[5:]), y[5:])], features=True)
    q = measure(lg, f, y.numpy(), 3)
    assert q["accuracy"] == pytest.approx(float((lg.argmax(1) == y).float().mean()))
    assert 0 <= q["recognizability"] <= 1 and q["diversity"] > 0
    assert len(q["per_class_recognizability"]) == 3
