"""Where a job's models run: the device the job sees (CUDA_VISIBLE_DEVICES / LOCAL_RANK), the CPU when
it sees none; the configured dtype on a GPU, float32 on the CPU. Every GPU-requesting step goes
through synscale.device (one place), and records what it used."""
import ast
from pathlib import Path

import torch

from synscale import device as D

STEPS = Path(D.__file__).parent / "steps"


def test_cpu_when_no_gpu_is_visible(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    dev = D.job_device()
    assert dev == torch.device("cpu")
    assert D.resolve_dtype("float16", dev) == torch.float32  # CPU runs stay exact
    assert D.describe(dev, torch.float32)["device"] == "cpu"


def test_gpu_of_the_local_rank(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", "1")
    dev = D.job_device()
    assert dev == torch.device("cuda", 1)
    assert D.resolve_dtype("float16", dev) == torch.float16 and D.resolve_dtype("bfloat16", dev) == torch.bfloat16


def test_place_moves_a_model_to_the_job_device():
    m = torch.nn.Linear(2, 2)
    dev = D.job_device()
    assert next(D.place(m, dev).parameters()).device == dev


def test_gpu_steps_place_models_through_the_device_module():
    """The steps of the GPU-requesting rules (generate, quality, evaluate, train, reference) ask
    synscale.device for the job's device and place models with it; no step moves a model itself."""
    for name in ("generate", "quality", "evaluate", "train", "reference"):
        src = (STEPS / f"{name}.py").read_text()
        tree = ast.parse(src)
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert ("job_device" in calls and "place" in calls) or "load_reference" in calls, name
        assert ".cuda(" not in src and '.to("cuda' not in src, name
