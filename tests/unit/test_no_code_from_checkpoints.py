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
