"""A resume file that is not a resume state of the job (a list, garbage bytes, a truncated file, a
dict missing keys, a planted pickle) is set aside as ``<file>.bad-<time>`` with a warning naming
both paths, and training starts from the start; it no longer fails every attempt."""
import logging
import pickle

import pytest
import torch

from synscale.train.resume import load_resume, restore, save_resume

IDENTITY = {"iters": 10, "seed": 1}


class _Part:
    """An object with a state dict, as a model / optimizer / scaler is to restore()."""

    def __init__(self, value=0):
        self.value = value

    def state_dict(self):
        return {"value": self.value}

    def load_state_dict(self, state):
        self.value = state["value"]


class _Plant:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _write(path, kind, tmp_path):
    if kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "garbage":
        path.write_bytes(b"\x00not a checkpoint\xff" * 50)
    elif kind == "truncated":
        save_resume(path, 3, IDENTITY, {"model": _Part(7)})
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "no identity":
        torch.save({"step": 3, "model": {"value": 1}}, path)
    elif kind == "identity not a dict":
        torch.save({"identity": [1], "step": 3}, path)
    elif kind == "step not a count":
        torch.save({"identity": IDENTITY, "step": "three"}, path)
    elif kind == "pickle":
        with open(path, "wb") as fh:
            pickle.dump({"identity": _Plant(tmp_path / "ran"), "step": 1}, fh)


KINDS = ["list", "garbage", "truncated", "no identity", "identity not a dict", "step not a count", "pickle"]


@pytest.mark.parametrize("kind", KINDS)
def test_foreign_resume_file_is_set_aside_and_training_starts_clean(tmp_path, caplog, kind):
    path = tmp_path / "model.pt.resume"
    _write(path, kind, tmp_path)
    original = path.read_bytes()
    with caplog.at_level(logging.WARNING):
        assert load_resume(path, IDENTITY) is None
    assert not path.exists()
    aside = list(tmp_path.glob("model.pt.resume.bad-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == original
    assert str(path) in caplog.text and str(aside[0]) in caplog.text
    assert not (tmp_path / "ran").exists()
    # the next attempt (a trainer's restore) starts at step 0 and can write its own resume state
    part = _Part(5)
    assert restore(path, IDENTITY, {"model": part}, 10) == 0 and part.value == 5
    save_resume(path, 4, IDENTITY, {"model": _Part(9)})
    part = _Part()
    assert restore(path, IDENTITY, {"model": part}, 10) == 4 and part.value == 9


def test_a_list_as_resume_state_no_longer_fails_the_trainer(tmp_path):
    """The case of the report: torch.save([1, 2, 3]) made every attempt end in AttributeError."""
    path = tmp_path / "model.pt.resume"
    torch.save([1, 2, 3], path)
    assert restore(path, IDENTITY, {"model": _Part(), "opt": _Part()}, 10) == 0


def test_own_state_missing_a_part_is_set_aside_and_the_attempt_stops(tmp_path):
    """A state with this job's identity whose parts are missing: the data loader already started at
    its step, so the attempt stops naming the file; the next one trains from the start."""
    path = tmp_path / "model.pt.resume"
    torch.save({"identity": IDENTITY, "step": 3, "model": {"value": 2}}, path)
    with pytest.raises(RuntimeError) as e:
        restore(path, IDENTITY, {"model": _Part(), "opt": _Part()}, 10)
    aside = list(tmp_path.glob("model.pt.resume.bad-*"))
    assert len(aside) == 1 and str(path) in str(e.value) and str(aside[0]) in str(e.value)
    assert "keys missing: opt" in str(e.value)
    assert load_resume(path, IDENTITY) is None
    assert restore(path, IDENTITY, {"model": _Part(), "opt": _Part()}, 10) == 0


def test_another_jobs_state_is_left_in_place(tmp_path):
    path = tmp_path / "model.pt.resume"
    save_resume(path, 4, {"iters": 10, "seed": 2}, {"model": _Part(1)})
    assert load_resume(path, IDENTITY) is None
    assert path.exists() and not list(tmp_path.glob("*.bad-*"))
