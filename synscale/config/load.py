"""Reading configuration files: YAML without repeated keys, the JSON schema (draft 2020-12) with
its defaults filled in, one message per bad key."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable

import yaml

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


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path) as fh:
            data = yaml.load(fh, Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def load_schema() -> dict:
    return load_yaml(SCHEMA_PATH)


def _key(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Re-read the config files Snakemake loaded, refusing what its YAML reader lets through
    (a repeated key silently wins there)."""
    for p in paths:
        load_yaml(p)


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


def _schema_message(e) -> str:
    key = _key(e.absolute_path)
    return f"config key '{key}': {e.message}"


def schema_errors(cfg: dict) -> list[str]:
    """Schema errors, one message per key; fills the schema's defaults into ``cfg`` in place."""
    v = _defaults_filling_validator()(load_schema())
    return [_schema_message(e) for e in sorted(v.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))]


