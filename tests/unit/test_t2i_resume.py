"""The tiny T2I models' training stopped by a signal at a step of any stage (synscale.train.stages):
the resume checkpoint holds the modules, the stage's optimizer, EMA, generator and loop state; the
retry skips the stages done, continues from the step, and ends with the weights and statistics of
a run never interrupted; the loss CSV holds every step once, numbered across the stages."""
import copy
import signal

import numpy as np
import pytest
import torch

from synscale.steps.t2i import STAGES, TRAINERS
from synscale.train.losslog import loss_csv_path
from synscale.train.preempt import PREEMPTED, StopFlag
from synscale.train.stages import Stages

pytestmark = pytest.mark.subprocess  # trains models

STEPS = {"sd": {"vae_steps": 6, "unet_steps": 8}, "imagen": {"stage_1_steps": 5, "stage_2_steps": 5},
         "muse": {"vq_steps": 6, "steps": 6}}
TIMING = {"seconds", "encode_seconds", "stage_1_seconds", "stage_2_seconds", "vq_seconds", "transformer_seconds"}


def _setup(tiny_cfg, model):
    cfg = copy.deepcopy(tiny_cfg)
    tc = {**cfg["models"][model]["train"], **STEPS[model]}
    d = cfg["data"]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (24, d["image_size"], d["image_size"], d["channels"]), dtype=np.uint8)
    caps = [[f"a photo of the digit {i % 4}", f"digit {i % 4}"] for i in range(24)]
    return cfg, tc, images, caps


def _train(tiny_cfg, model, resume, stop_at=None):
    """Train ``model``'s tiny model; ``stop_at`` = (stage, step): SIGUSR1 noted after that step
    (1-based) of that stage. (modules' weights, statistics) or the Preempted exit."""
    cfg, tc, images, caps = _setup(tiny_cfg, model)
    family = cfg["models"][model]["family"]
    flag = StopFlag()

    def progress(name, total):
        def note(step, loss):
            if stop_at == (name, step):
                flag(signal.SIGUSR1, None)
        return note

    plan = [(name, int(tc[steps])) for name, steps, _ in STAGES[family]]
    identity = {"model": model, "seed": 7, "train": tc}
    with Stages(resume, identity, plan, flag) as stages:
        stats, _ = TRAINERS[family](cfg, tc, images, caps, 7, progress, stages)
    weights = {f"{n}.{k}": v.clone() for n, m in stages.modules.items() for k, v in m.state_dict().items()}
    return weights, {k: v for k, v in stats.items() if k not in TIMING}, stages.start


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread, as the jobs run the tiny models (models.<name>.train.threads): several threads sum
    gradients in an order that varies from run to run (two uninterrupted runs would differ)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def uninterrupted(tiny_cfg, tmp_path_factory):
    cache = {}

    def get(model):
        if model not in cache:
            cache[model] = _train(tiny_cfg, model, tmp_path_factory.mktemp(model) / "m.resume")
        return cache[model]
    return get


@pytest.mark.parametrize("model, stop_at", [("sd", ("VAE", 3)), ("sd", ("UNet", 5)), ("imagen", ("stage_1", 2)),
                                            ("imagen", ("stage_2", 4)), ("muse", ("VQ", 2)),
                                            ("muse", ("transformer", 3))])
def test_a_stopped_stage_resumes_to_the_uninterrupted_weights(tiny_cfg, tmp_path, uninterrupted, model, stop_at,
                                                              caplog):
    resume = tmp_path / "m.resume"
    with pytest.raises(SystemExit) as stopped:
        _train(tiny_cfg, model, resume, stop_at)
    assert stopped.value.code == PREEMPTED and resume.exists()
    family = tiny_cfg["models"][model]["family"]
    steps = {name: STEPS[model][key] for name, key, _ in STAGES[family]}
    names = list(steps)
    reached = sum(steps[n] for n in names[:names.index(stop_at[0])]) + stop_at[1]
    saved = torch.load(resume, weights_only=True)
    assert (saved["stage"], saved["stage_step"], saved["step"]) == (*stop_at, reached)
    with caplog.at_level("INFO"):
        weights, stats, start = _train(tiny_cfg, model, resume)
    assert start == reached and f"at step {reached} of {sum(steps.values())}" in caplog.text
    ref_weights, ref_stats, _ = uninterrupted(model)
    assert weights.keys() == ref_weights.keys()
    for k in weights:
        assert torch.equal(weights[k], ref_weights[k]), k
    assert stats == ref_stats
    rows = loss_csv_path(tmp_path / "m").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, sum(steps.values()) + 1))


def test_a_resume_state_of_another_training_is_not_continued(tiny_cfg, tmp_path, uninterrupted):
    resume = tmp_path / "m.resume"
    with pytest.raises(SystemExit):
        _train(tiny_cfg, "muse", resume, ("VQ", 2))
    state = torch.load(resume, weights_only=True)
    state["identity"]["seed"] = 8
    torch.save(state, resume)
    weights, _, start = _train(tiny_cfg, "muse", resume)
    assert start == 0
    ref, _, _ = uninterrupted("muse")
    assert all(torch.equal(weights[k], ref[k]) for k in ref)
