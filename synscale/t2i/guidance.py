"""Muse's classifier-free guidance schedule on diffusers' ``AmusedPipeline``.

Muse (Chang et al. 2023, Sec. 2.7) forms the logits of every masked token as
``l_g = (1 + t) l_c - t l_u`` and *raises* the guidance scale ``t`` linearly through the sampling
steps: the first tokens are sampled with little or no guidance (diversity), the last ones with the
full ``t`` (fidelity). In diffusers' convention (``l_u + w (l_c - l_u)``) that is ``w = 1 + t``.

``AmusedPipeline.__call__`` applies one constant ``guidance_scale`` (a local variable of its loop,
so a step callback cannot change it). ``scheduled_guidance`` follows Muse without forking the
pipeline: a forward hook on the pipeline's transformer combines the unconditional and conditional
logits of step ``i`` at ``w_i`` itself and hands the pipeline both halves equal to that combination,
so the pipeline's own ``l_u' + w (l_c' - l_u')`` returns it unchanged (``x + w * 0 = x``, exactly).

Schedules (``models.<name>.guidance_schedule``), for a run's guidance ``t`` and ``N`` steps:

* ``linear`` (Muse, the masked-token family's default): ``t_i = t * i / (N - 1)``, ``i = 0 .. N - 1``
  -- unguided at the first step, the run's ``t`` at the last (a single step samples at ``t``);
* ``constant``: ``t_i = t`` at every step (diffusers' own behaviour).
"""
from __future__ import annotations

from contextlib import contextmanager

GUIDANCE_SCHEDULES = ("linear", "constant")
# the schedule a family samples with when its config does not name one
FAMILY_GUIDANCE_SCHEDULE = {"masked_token": "linear", "latent_diffusion": "constant", "pixel_cascade": "constant"}


def muse_guidance(t: float) -> float:
    """The paper's Muse guidance t (cond + t (cond - uncond)) as diffusers' guidance_scale w
    (uncond + w (cond - uncond)): w = 1 + t. t = 0 is unguided sampling."""
    return 1.0 + float(t)


def check_schedule(schedule: str, family: str, key: str = "models.<name>.guidance_schedule") -> str:
    """``schedule`` if the family samples with it; an error naming ``key`` otherwise."""
    if schedule not in GUIDANCE_SCHEDULES:
        raise ValueError(f"{key}: unknown guidance schedule {schedule!r}; use one of {', '.join(GUIDANCE_SCHEDULES)}")
    if schedule != "constant" and family != "masked_token":
        raise ValueError(f"{key}: {schedule!r} is implemented for the masked_token family only ({family} samples "
                         "at a constant guidance); set it to constant or remove it")
    return schedule


def guidance_steps(t: float, steps: int, schedule: str) -> list[float]:
    """The Muse guidance ``t_i`` of each of ``steps`` sampling steps (the paper's convention)."""
    if steps < 1:
        raise ValueError(f"sampling needs at least one step, got {steps}")
    t = float(t)
    if schedule == "constant" or steps == 1:
        return [t] * steps
    if schedule == "linear":
        return [t * i / (steps - 1) for i in range(steps)]
    raise ValueError(f"unknown guidance schedule {schedule!r}; use one of {', '.join(GUIDANCE_SCHEDULES)}")


def guidance_scales(t: float, steps: int, schedule: str) -> list[float]:
    """diffusers' guidance_scale ``w_i = 1 + t_i`` of each sampling step."""
    return [muse_guidance(x) for x in guidance_steps(t, steps, schedule)]


@contextmanager
def scheduled_guidance(transformer, scales: list[float]):
    """Within the block, the ``i``-th forward pass of ``transformer`` (step ``i`` of an
    ``AmusedPipeline`` called with ``guidance_scale > 1``, which stacks the unconditional half of
    the batch before the conditional one) returns ``l_u + scales[i] (l_c - l_u)`` in both halves.
    Yields the list of the scales applied, one per step, for the caller to check and record."""
    applied: list[float] = []

    def hook(module, args, output):
        i = len(applied)
        if i >= len(scales):
            raise RuntimeError(f"the transformer ran {i + 1} times for a guidance schedule of {len(scales)} steps")
        if output.shape[0] % 2:
            raise RuntimeError("guided sampling stacks unconditional and conditional inputs: got an odd batch of "
                               f"{output.shape[0]}; call the pipeline with guidance_scale > 1")
        uncond, cond = output.chunk(2)
        combined = uncond + scales[i] * (cond - uncond)
        applied.append(float(scales[i]))
        return combined.repeat(2, *([1] * (combined.ndim - 1)))

    handle = transformer.register_forward_hook(hook)
    try:
        yield applied
    finally:
        handle.remove()
