"""Class-subset masking and the zero-shot temperature, against hand-computed values: the
classifier's ``scores`` and CLIP's ``zero_shot_scores`` on a set covering 2 of 3 classes (labels
keep their full class indices), and the CLIP evaluation step scoring with tau = exp(logit_scale)."""
import json
import math

import numpy as np
import pytest
import torch

from synscale.clip.model import zero_shot_scores
from synscale.train.classifier import scores


def test_classifier_scores_mask_the_classes_outside_a_two_of_three_subset():
    lg = torch.tensor([[1.0, 2.0, 0.0],    # label 0: class 1 would win unmasked
                       [0.0, 3.0, 1.0],    # label 2: class 1 would win unmasked
                       [2.0, 0.0, 1.0]])   # label 2: class 0 wins either way
    y = torch.tensor([0, 2, 2])
    out = scores(lg, y, 3, class_subset=[0, 2])
    # masked logits (1, -inf, 0), (0, -inf, 1), (2, -inf, 1):
    # -log softmax = log(1 + e^-1), log(1 + e^-1), log(1 + e^1)
    a, c = math.log1p(math.exp(-1)), math.log1p(math.exp(1))
    assert out["loss"] == pytest.approx((2 * a + c) / 3, rel=1e-6)
    assert out["top1"] == pytest.approx(2 / 3)
    assert out["n"] == 3
    assert out["per_class_loss"][0] == pytest.approx(a, rel=1e-6)
    assert out["per_class_loss"][1] is None
    assert out["per_class_loss"][2] == pytest.approx((a + c) / 2, rel=1e-6)
    assert out["per_class_top1"] == [1.0, None, 0.5]
    # unmasked, class 1 takes the arg-max of the first two samples and probability mass from all
    full = scores(lg, y, 3)
    assert full["top1"] == 0.0
    want_full = [math.log(math.exp(1) + math.exp(2) + 1) - 1, math.log(1 + math.exp(3) + math.e) - 1,
                 math.log(math.exp(2) + 1 + math.e) - 1]
    assert full["loss"] == pytest.approx(np.mean(want_full), rel=1e-6)


def test_classifier_scores_refuse_labels_outside_the_subset():
    with pytest.raises(ValueError, match=r"labels \[1\] are outside the set's class subset"):
        scores(torch.zeros(2, 3), torch.tensor([0, 1]), 3, class_subset=[0, 2])


def test_zero_shot_scores_mask_a_two_of_three_subset_and_keep_the_class_indices():
    w = torch.eye(3)  # D x C: class c along axis c
    img = torch.tensor([[3.0, 4.0, 0.0],   # normalised (0.6, 0.8, 0): label 0, class 1 closest
                        [0.0, 4.0, 3.0],   # (0, 0.8, 0.6): label 2, class 1 closest
                        [4.0, 0.0, 3.0]])  # (0.8, 0, 0.6): label 2, class 0 closest
    y = torch.tensor([0, 2, 2])
    tau = 2.0
    out = zero_shot_scores(img, w, tau, y, class_subset=[0, 2])
    # masked logits tau * cos: (1.2, -inf, 0), (0, -inf, 1.2), (1.6, -inf, 1.2)
    a, c = math.log1p(math.exp(-1.2)), math.log1p(math.exp(0.4))
    assert out["loss"] == pytest.approx((2 * a + c) / 3, rel=1e-6)
    assert out["top1"] == pytest.approx(2 / 3)
    assert out["tau"] == 2.0 and out["n"] == 3
    assert out["per_class_loss"] == pytest.approx({"0": a, "2": (a + c) / 2}, rel=1e-6)
    assert out["per_class_top1"] == {"0": 1.0, "2": 0.5}
    # without the subset the loss is larger and class 1 wins the first two samples
    full = zero_shot_scores(img, w, tau, y)
    assert full["top1"] == 0.0
    want_full = [math.log(math.exp(1.2) + math.exp(1.6) + 1) - 1.2, math.log(1 + math.exp(1.6) + math.exp(1.2)) - 1.2,
                 math.log(math.exp(1.6) + 1 + math.exp(1.2)) - 1.2]
    assert full["loss"] == pytest.approx(np.mean(want_full), rel=1e-6)


TINY = {"name": "synscale-test-clip-tau",
        "config": {"embed_dim": 16, "vision_cfg": {"image_size": 16, "patch_size": 8, "width": 16, "layers": 1,
                                                   "head_width": 8},
                   "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}}


def test_the_evaluation_step_scores_with_tau_exp_logit_scale(tmp_path, monkeypatch):
    """A tiny CLIP saved with logit_scale = log 4: the evaluation job records tau = 4 and its val loss
    is -log softmax(4 cos(z_img, z_c)) of the true class, computed here from the model's features (a
    job using logit_scale itself, 1.386, would give another loss). On the CPU, as the features here."""
    from PIL import Image

    import synscale.device
    from synscale.clip.model import build_model, class_weights, templates, transforms
    from synscale.data.shards import Sample, write_shard
    from synscale.steps.clip import zero_shot_eval

    monkeypatch.setattr(synscale.device, "job_device", lambda: torch.device("cpu"))

    model, tokenizer = build_model(TINY, seed=0)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(4.0))
    ckpt = tmp_path / "model.pt"
    torch.save({"state_dict": model.state_dict(),
                "meta": {"captions": 100, "arm": "real", "model": TINY, "recipe": "S"}}, ckpt)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for _ in range(6)]
    labels = [i % 3 for i in range(6)]
    val = tmp_path / "val-00000.tar"
    write_shard(val, (Sample(f"{i:04d}", im, c) for i, (im, c) in enumerate(zip(images, labels))))
    names = ["zero", "one", "two"]
    (tmp_path / "classes.json").write_text(json.dumps(names))
    cfg = {"results": str(tmp_path), "seed": 0, "data": {"ood": {}}, "probes": {},
           "clip": {"model": {"name": "ViT-B-16"}, "train": {"amp": None, "workers": 0},
                    "zero_shot": {"templates": "simple_imagenet", "classnames": "class_index", "probes": False,
                                  "benchmark": False, "benchmark_keys": {}, "probe_classnames": {},
                                  "batch_size": 4}}}
    out = zero_shot_eval(cfg, "real_x", 100, str(ckpt), [str(val)], {}, {}, str(tmp_path / "classes.json"),
                         str(tmp_path / "e.json"))
    assert out["tau"] == pytest.approx(4.0, rel=1e-6)
    model.eval()
    tf = transforms(model, False)
    with torch.no_grad():
        z = model.encode_image(torch.stack([tf(Image.fromarray(im)) for im in images])).float()
        w = class_weights(model, tokenizer, names, templates("simple_imagenet"))
    cos = torch.nn.functional.normalize(z, dim=-1) @ torch.nn.functional.normalize(w, dim=0)
    y = torch.tensor(labels)

    def loss(tau):
        return float(torch.nn.functional.cross_entropy(tau * cos, y))

    assert out["val"]["loss"] == pytest.approx(loss(4.0), rel=1e-4)
    assert out["val"]["loss"] != pytest.approx(loss(math.log(4.0)), rel=1e-3)
    assert out["val"]["top1"] == pytest.approx(float((cos.argmax(1) == y).float().mean()))
    assert out["val"]["n"] == 6 and json.loads((tmp_path / "e.json").read_text())["tau"] == out["tau"]
