"""A pickle planted where the workflow loads a checkpoint (a resume state, a classifier checkpoint
or an external reference) runs nothing: the load refuses it."""
import pickle

import pytest

from synscale.train.classifier import load_checkpoint
from synscale.train.resume import load_resume


class _Plant:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # creating the file is the side effect


def _plant(path, marker):
    with open(path, "wb") as fh:
        pickle.dump({"identity": {"x": _Plant(marker)}, "step": 1}, fh)


def test_resume_state_with_code_is_ignored(tmp_path):
    marker = tmp_path / "ran"
    _plant(tmp_path / "model.pt.resume", marker)
    assert load_resume(tmp_path / "model.pt.resume", {"x": 1}) is None
    assert not marker.exists()


def test_checkpoint_with_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    _plant(tmp_path / "model.pt", marker)
    with pytest.raises(ValueError, match="unreadable checkpoint"):
        load_checkpoint(tmp_path / "model.pt", "resnet10t", 10, 1, key="reference_classifier.path")
    assert not marker.exists()


def _plant_any(path, marker):
    with open(path, "wb") as fh:
        pickle.dump({"features": _Plant(marker), "state_dict": {}, "meta": {}}, fh)


def test_clip_checkpoint_with_code_is_refused(tmp_path):
    from synscale.steps.clip import load_model

    marker = tmp_path / "ran"
    _plant_any(tmp_path / "model.pt", marker)
    with pytest.raises(ValueError, match=r"model\.pt: not a CLIP checkpoint this workflow can read safely"):
        load_model({"clip": {"model": {"name": "x"}}}, str(tmp_path / "model.pt"))
    assert not marker.exists()


@pytest.mark.parametrize("what", ["validation features file", "training features file"])
def test_feature_files_with_code_are_refused(tmp_path, what):
    """The quality jobs' feature files (val_features.pt, train_features.pt) go through the same loader."""
    from synscale.io import load_tensors

    marker = tmp_path / "ran"
    _plant_any(tmp_path / "features.pt", marker)
    with pytest.raises(ValueError, match=rf"features\.pt: not a {what} this workflow can read safely"):
        load_tensors(tmp_path / "features.pt", what, mmap=what.startswith("training"))
    assert not marker.exists()


def test_every_torch_load_in_the_package_refuses_code():
    """No load site may unpickle code: every torch.load in synscale passes weights_only=True."""
    import re

    from support.repo import ROOT

    calls = []
    for path in (ROOT / "synscale").rglob("*.py"):
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            calls.append((path.name, m.group(1)))
    assert calls and all("weights_only=True" in args for _, args in calls), calls
