"""A job's configuration as its rule declared it: the slice the rule passes as ``params`` (its
keys in ``synscale/steps/keys.py``), refusing to be read where the whole configuration has a key
the slice left out.

Without this, a step reading ``cfg.get("some_key")`` for a key its rule did not pass gets None and
silently falls back to a default: the job computes something other than what the configuration
says, and editing that key never re-runs it. With it, such a read stops the job, naming the rule,
the key and the fix. Keys the whole configuration does not have either behave as in a plain dict.
"""
from __future__ import annotations

from typing import Any


class UndeclaredConfigKey(RuntimeError):
    """A job read a configuration key that its rule does not pass it (not a KeyError, so that no
    ``except KeyError`` fallback can swallow it)."""


_MISSING = object()


class DeclaredConfig(dict):
    """``data`` (a config slice) checked against ``full`` (the whole configuration) on every read."""

    def __init__(self, data: dict, full: Any, rule: str = "<rule>", where: str = ""):
        super().__init__()
        self._full, self._rule, self._where = full if isinstance(full, dict) else {}, rule, where
        for k, v in data.items():
            if isinstance(v, dict) and not isinstance(v, DeclaredConfig):
                v = DeclaredConfig(v, self._full.get(k), rule, f"{where}{k}.")
            dict.__setitem__(self, k, v)

    def _check(self, key) -> None:
        if not dict.__contains__(self, key) and key in self._full:
            raise UndeclaredConfigKey(
                f"rule {self._rule} reads config key '{self._where}{key}', which the rule does not pass its job "
                "(its config slice, synscale/steps/keys.py): the job would not see the configured value and "
                "editing it would not re-run the job. Add the key to the rule's keys.")

    def __getitem__(self, key):
        self._check(key)
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        self._check(key)
        return dict.get(self, key, default)

    def __contains__(self, key) -> bool:
        self._check(key)
        return dict.__contains__(self, key)

    def setdefault(self, key, default=None):
        self._check(key)
        return dict.setdefault(self, key, default)

    def pop(self, key, default=_MISSING):
        self._check(key)
        return dict.pop(self, key) if default is _MISSING else dict.pop(self, key, default)
