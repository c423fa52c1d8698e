"""The reference classifier is fed the input normalisation it was trained with, its top-1 on the
real val set is measured, and one that scores near chance stops the quality jobs."""
import json

import numpy as np
import pytest
import torch

from synscale.data.shards import Sample, write_shard
from synscale.measure import reference as R

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def _cfg(path=None, arch="resnet10t", channels=3, normalization=None, floor=None):
    return {"data": {"channels": channels, "image_size": 8},
            "reference_classifier": {"arch": arch, "path": path, "normalization": normalization,
                                     "min_val_top1": floor, "input_size": 8, "eval_crop_pct": 1.0,
                                     "batch_size": 4, "workers": 0}}


def test_where_the_normalisation_comes_from():
    trained = R.reference_normalization(_cfg())
    assert trained["mean"] == [0.5] * 3 and trained["std"] == [0.5] * 3
    assert "trained by the workflow" in trained["source"]
    ext = R.reference_normalization(_cfg(path="/w/ref.pt"))  # timm's resnet10t: ImageNet's statistics
    assert ext["mean"] == pytest.approx(IMAGENET_MEAN) and ext["std"] == pytest.approx(IMAGENET_STD)
    assert "pretrained_cfg of resnet10t" in ext["source"]
    vit = R.reference_normalization(_cfg(path="/w/ref.pt", arch="vit_base_patch16_224"))
    assert vit["mean"] == pytest.approx([0.5] * 3)
    given = R.reference_normalization(_cfg(path="/w/ref.pt", normalization={"mean": [0.1, 0.2, 0.3],
                                                                             "std": [1, 2, 3]}))
    assert given["mean"] == [0.1, 0.2, 0.3] and given["std"] == [1.0, 2.0, 3.0] and "config" in given["source"]


def test_a_normalisation_that_cannot_be_right_names_the_key():
    with pytest.raises(ValueError, match=r"reference_classifier\.normalization.*3 values.*data\.channels is 1"):
        R.reference_normalization(_cfg(path="/w/ref.pt", channels=1))
    with pytest.raises(ValueError, match=r"reference_classifier\.normalization.*no pretrained_cfg"):
        R.reference_normalization(_cfg(path="/w/ref.pt", arch="my_own_net"))


def test_the_floor_is_clearly_above_chance():
    assert R.top1_floor(_cfg(), 10) == pytest.approx(0.1 + 0.9 / 4)
    assert R.top1_floor(_cfg(), 1000) == pytest.approx(0.001 + 0.999 / 4)
    assert R.top1_floor(_cfg(floor=0.6), 10) == 0.6


def test_a_reference_near_chance_stops_the_quality_jobs(tmp_path):
    m = tmp_path / "metrics.json"
    m.write_text(json.dumps({"val_top1": 0.172, "val_loss": 2.2}))
    with pytest.raises(ValueError, match=r"val top-1 0\.172.*min_val_top1 = 0\.325.*normalisation.*"
                                         r"pretrained_cfg of resnet10t.*class order.*data\.class_index"):
        R.require_good_reference(_cfg(path="/w/ref.pt"), m, 10)
    m.write_text(json.dumps({"val_top1": 0.982, "val_loss": 0.06}))
    assert R.require_good_reference(_cfg(path="/w/ref.pt"), m, 10)["val_top1"] == 0.982


class _Brightness(torch.nn.Module):
    """Class 1 when the normalised image's mean is positive, else class 0."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        s = x.mean((1, 2, 3)) * self.w
        return torch.stack([-s, s], 1)


def test_the_val_top1_is_measured_with_the_configured_normalisation(tmp_path):
    """Grey images of value 100 (class 0) and 160 (class 1): around mean 0.5 they split by sign,
    around mean 0.2 both look bright. The measured top-1 says which normalisation was applied."""
    samples = [Sample(f"k{i}", np.full((8, 8, 3), 100 if i % 2 == 0 else 160, np.uint8), i % 2) for i in range(8)]
    write_shard(tmp_path / "val.tar", samples)
    model, dev = _Brightness(), torch.device("cpu")
    right = {"mean": [0.5] * 3, "std": [0.25] * 3}
    ok = R.evaluate_on_val(_cfg(path="/w/ref.pt", normalization=right), model, dev, torch.float32,
                           [tmp_path / "val.tar"], 2)
    assert ok["val_top1"] == 1.0 and ok["normalization"]["mean"] == [0.5] * 3
    wrong = {"mean": [0.2] * 3, "std": [0.25] * 3}
    bad = R.evaluate_on_val(_cfg(path="/w/ref.pt", normalization=wrong), model, dev, torch.float32,
                            [tmp_path / "val.tar"], 2)
    assert bad["val_top1"] == 0.5


@pytest.mark.parametrize("slice_name", ["QUALITY", "VAL_FEATURES", "EVALUATE_REFERENCE"])
def test_the_jobs_that_check_the_reference_are_given_its_floor_and_normalisation(slice_name):
    """The quality jobs read the floor and the normalisation from their config slice: a key left out
    of it would silently fall back to the defaults."""
    from support.repo import ROOT

    from synscale import config as C
    from synscale.steps import keys

    cfg = C.validate(C.load_yaml(ROOT / "config" / "config.yaml"))
    cfg["reference_classifier"].update({"min_val_top1": 0.2, "normalization": {"mean": [0.3], "std": [0.7]}})
    job_cfg = C.pick(cfg, "results", *getattr(keys, slice_name))
    assert R.top1_floor(job_cfg, 10) == 0.2
    assert R.reference_normalization(job_cfg)["mean"] == [0.3]


@pytest.mark.parametrize("slice_name", ["QUALITY", "VAL_FEATURES", "EVALUATE_REFERENCE"])
@pytest.mark.parametrize("path, mean", [(None, [0.5] * 3), ("/weights/ref.pt", IMAGENET_MEAN)])
def test_every_job_reading_the_reference_derives_the_normalisation_the_reference_was_measured_with(
        slice_name, path, mean):
    """Without ``normalization`` in the config, whether the weights are external decides it (their
    timm pretrained_cfg, else [-1, 1]): the jobs' slices must carry ``path``, or a quality job
    would feed an external ImageNet-normalised reference [-1, 1] pixels."""
    from support.repo import ROOT

    from synscale import config as C
    from synscale.steps import keys

    cfg = C.validate(C.load_yaml(ROOT / "tests" / "configs" / "paperlike.yaml"))
    cfg["reference_classifier"].update({"path": path, "normalization": None, "arch": "resnet10t"})
    cfg["data"]["channels"] = 3
    job_cfg = C.pick(cfg, "results", *getattr(keys, slice_name))
    assert R.reference_normalization(job_cfg) == R.reference_normalization(cfg)
    assert R.reference_normalization(job_cfg)["mean"] == pytest.approx(mean)


def test_a_job_refuses_a_normalisation_other_than_the_one_the_reference_was_measured_with(tmp_path):
    metrics = tmp_path / "metrics.json"
    measured = R.reference_normalization(_cfg(path="/w/ref.pt"))
    metrics.write_text(json.dumps({"val_top1": 0.9, "normalization": measured}))
    assert R.require_good_reference(_cfg(path="/w/ref.pt"), metrics, 10)["val_top1"] == 0.9
    with pytest.raises(ValueError, match=r"metrics.json: the reference classifier was measured .* with input "
                                         r"normalisation .*pretrained_cfg of resnet10t.* but this job would feed it "
                                         r".*trained by the workflow.*--forcerun evaluate_reference"):
        R.require_good_reference(_cfg(), metrics, 10)
