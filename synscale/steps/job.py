"""What a rule hands its job, unwrapped once: the bridge between Snakemake and the steps.

Scripts call ``run(snakemake, step.main, lists=(...))``. Inputs arrive as one ``str`` each, or a
``list[str]`` for the names in ``lists`` (Snakemake wraps a one-file input function result in a
list; this is the one place that undoes it). Params arrive as a dict; ``params["config"]`` is the
slice of the configuration the rule passes (``synscale.config.pick``).
"""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

log = logging.getLogger("synscale")


@dataclass
class Job:
    input: dict[str, Any]
    output: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    log: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> dict:
        return self.params["config"]


def _named(namedlist) -> dict[str, Any]:
    return {k: v for k, v in namedlist.items()}


def unwrap(name: str, value: Any, as_list: bool) -> str | list[str]:
    items = [str(value)] if isinstance(value, str) else [str(v) for v in value]
    if as_list:
        return items
    if len(items) != 1:
        raise ValueError(f"input {name!r}: expected one file, got {len(items)}: {items[:3]}")
    return items[0]


def _is_list(name: str, lists: Iterable[str]) -> bool:
    return any(name == p or (p.endswith("*") and name.startswith(p[:-1])) for p in lists)


def from_snakemake(smk, lists: Iterable[str] = ()) -> Job:
    """``lists``: input names kept as lists (``prefix*`` matches every name with that prefix)."""
    lists = (lists,) if isinstance(lists, str) else tuple(lists)  # ("evals") is a string, not a tuple
    inputs = {k: unwrap(k, v, _is_list(k, lists)) for k, v in _named(smk.input).items()}
    outputs = {k: str(v) for k, v in _named(smk.output).items()}
    if not outputs and len(smk.output) == 1:
        outputs = {"out": str(smk.output[0])}
    resources = {k: v for k, v in _named(smk.resources).items() if not k.startswith("_")}
    params = _named(smk.params)
    if isinstance(params.get("config"), dict):  # the slice refuses reads of keys the rule did not pass
        from synscale.config.declared import DeclaredConfig

        params["config"] = DeclaredConfig(params["config"], getattr(smk, "config", None), rule=smk.rule)
    return Job(inputs, outputs, params, int(smk.threads), smk.log[0] if smk.log else None, resources)


def run(smk, step: Callable[[Job], Any], lists: Iterable[str] = ()) -> Any:
    """Run ``step`` as the job of a Snakemake rule: log to the rule's log file (progress, and on
    failure the traceback), with torch using the job's threads."""
    from synscale.logs import setup
    from synscale.steps.common import set_threads

    setup(smk.log[0] if smk.log else None)
    try:
        job = from_snakemake(smk, lists)
        set_threads(job.threads)
        return step(job)
    except BaseException:
        log.error("job failed:\n%s", traceback.format_exc())
        raise
