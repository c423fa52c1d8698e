"""Reading configuration files: YAML without repeated keys (a syntax error named by file, line and
column), no NaN or infinity anywhere, the JSON schema (draft 2020-12) with its defaults filled in,
one message in words per bad key, and the file and line that set a key."""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Iterable

import yaml

from .messages import config_key as _key
from .messages import schema_message
from .names import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"

# --------------------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key repeated in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (first on line {seen[key] + 1}); "
                    "keep one", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_YAML_HINTS = {
    "'\\t'": "indent with spaces, not tabs",
    "mapping values are not allowed here": "a value holding ': ' must be quoted, or a key is indented wrongly",
    "but got '<stream end>'": "a bracket or brace is not closed",
    "found unexpected end of stream": "a quote is not closed",
}


def _yaml_message(path: Path, e: yaml.YAMLError) -> str:
    """``<file>, line L, column C: not valid YAML: <problem>`` (PyYAML's marks count from 0)."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
    problem = getattr(e, "problem", None) or str(e)
    ctx, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    if ctx and cmark is not None and cmark is not mark:
        problem += f" ({ctx} opened on line {cmark.line + 1})"
    hint = next((h for k, h in _YAML_HINTS.items() if k in problem), None)
    return f"{where}: not valid YAML: {problem}" + (f"; {hint}" if hint else "")


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path) as fh:
            data = yaml.load(fh, Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_message(path, e)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of config keys (got {type(data).__name__})")
    return data


def load_schema() -> dict:
    return load_yaml(SCHEMA_PATH)


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Re-read the config files Snakemake loaded, refusing what its YAML reader lets through
    (a repeated key silently wins there)."""
    for p in paths:
        load_yaml(p)


# --------------------------------------------------------------------------- where a key is set


def key_lines(path: str | Path) -> dict[str, int]:
    """config key (``runs[0].scales``) -> the line (from 1) of a YAML file that sets it."""
    try:
        root = yaml.compose(Path(path).read_text(), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return {}
    out: dict[str, int] = {}

    def walk(node, parts):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                sub = [*parts, k.value]
                out[_key(sub)] = k.start_mark.line + 1
                walk(v, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                out[_key([*parts, i])] = v.start_mark.line + 1
                walk(v, [*parts, i])

    walk(root, [])
    return out


def locate(key: str, files: Iterable[str | Path]) -> str | None:
    """'<file>, line N' of the last config file that sets ``key`` (or the nearest enclosing key)."""
    for f in reversed(list(files)):
        lines = key_lines(f)
        k = key
        while k:
            if k in lines:
                return f"{f}, line {lines[k]}"
            cut = max(k.rfind("."), k.rfind("["))
            k = k[:cut] if cut > 0 else ""
    return None


# --------------------------------------------------------------------------- values schemas cannot refuse


def nonfinite_errors(cfg: Any, path: tuple = ()) -> list[str]:
    """NaN and infinity anywhere in a configuration (YAML's .nan / .inf, or --config x=nan): no
    key takes one, and a NaN passes every minimum and maximum of the schema."""
    if isinstance(cfg, float) and not math.isfinite(cfg):
        word = ".nan (not a number)" if math.isnan(cfg) else f"{'-' if cfg < 0 else ''}.inf (infinity)"
        return [f"config key '{_key(path)}': {word} is not allowed anywhere in a configuration; give a finite number"]
    if isinstance(cfg, dict):
        return [m for k, v in cfg.items() for m in nonfinite_errors(v, (*path, k))]
    if isinstance(cfg, list):
        return [m for i, v in enumerate(cfg) for m in nonfinite_errors(v, (*path, i))]
    return []


def coerce_cli_booleans(cfg: dict) -> None:
    """``--config allow_missing_paths=true`` reaches the config as the string 'true' (Snakemake reads
    only True / False as booleans there): take 'true' and 'false' in any case."""
    v = cfg.get("allow_missing_paths")
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        cfg["allow_missing_paths"] = v.strip().lower() == "true"


# --------------------------------------------------------------------------- the schema


def _defaults_filling_validator():
    """Draft 2020-12 validator that fills each property's ``default`` before validating it.

    jsonschema validates but never fills defaults; this is its documented extension pattern
    (wrap the ``properties`` keyword). Kept here rather than snakemake.utils.validate so the
    package validates the same way inside and outside Snakemake and reports every error with
    its key.
    """
    from jsonschema import Draft202012Validator, validators

    props = Draft202012Validator.VALIDATORS["properties"]

    def properties(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from props(validator, properties, instance, schema)

    # 1.0 is not an integer here (JSON Schema would accept it): seeds and scales are exact, and
    # seed 1.0 would derive other seeds than seed 1; a boolean is not a number
    types = Draft202012Validator.TYPE_CHECKER.redefine_many({
        "integer": lambda _, x: isinstance(x, int) and not isinstance(x, bool),
        "number": lambda _, x: isinstance(x, (int, float)) and not isinstance(x, bool),
    })
    return validators.extend(Draft202012Validator, {"properties": properties}, type_checker=types)


def schema_errors(cfg: dict) -> list[str]:
    """NaN / infinity and schema errors, one message per key in words; fills the schema's defaults
    into ``cfg`` in place."""
    coerce_cli_booleans(cfg)
    bad = nonfinite_errors(cfg)
    schema = load_schema()
    v = _defaults_filling_validator()(schema)
    errs = sorted(v.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    msgs = [m for e in errs for m in schema_message(e, schema)]
    # a key already named as NaN / infinite is not named again for the bounds it then fails
    named = {m.split("'")[1] for m in bad}
    return bad + [m for m in msgs if not (m.startswith("config key '") and m.split("'")[1] in named)]
