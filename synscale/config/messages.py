"""Schema errors in words: one message per bad key, naming the key (``config key 'runs[0].scales'``)
and what to write instead, rather than jsonschema's ``'real' should not be valid under {'const':
'real'}`` or ``True is not valid under any of the given schemas``."""
from __future__ import annotations

import difflib
import re
from typing import Any, Iterable

from .names import REAL

_TYPE_WORDS = {"null": "null", "object": "a mapping", "array": "a list", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "true or false"}


def config_key(path: Iterable[Any]) -> str:
    """A key path as the messages write it: runs[0].scales."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def _join(parent: str, name: str) -> str:
    return name if parent == "<top level>" else f"{parent}.{name}"


def _resolve(sub: dict, root: dict) -> dict:
    """A sub-schema with a local ``$ref`` (``#/$defs/name``) followed."""
    while isinstance(sub, dict) and "$ref" in sub and sub["$ref"].startswith("#/"):
        target: Any = root
        for part in sub["$ref"][2:].split("/"):
            target = target[part]
        sub = target
    return sub


def _describe(sub: dict, root: dict) -> str:
    """An alternative of a oneOf in words: 'null', 'an integer', 'one of float32, float16'."""
    sub = _resolve(sub, root)
    if "enum" in sub:
        return "one of " + ", ".join(map(repr, sub["enum"]))
    if "const" in sub:
        return repr(sub["const"])
    t = sub.get("type")
    words = [_TYPE_WORDS.get(x, x) for x in (t if isinstance(t, list) else [t] if t else [])]
    if sub.get("type") == "object" and sub.get("properties"):
        words = [f"a mapping (keys: {', '.join(sub['properties'])})"]
    return " or ".join(words) or "a value of another shape"


def _names(message: str) -> list[str]:
    return re.findall(r"'([^']*)'", message)


def _one_of(e, root: dict) -> list[str]:
    """A value matching no alternative: where one alternative has the right type and fails only
    deeper, that failure (e.g. 'classifier.augment.randaugment'); otherwise the alternatives."""
    by_alt: dict[int, list] = {}
    for c in e.context or []:
        by_alt.setdefault(c.relative_schema_path[0], []).append(c)
    shallow = {"type", "enum", "const"}
    near = [errs for errs in by_alt.values()
            if not any(c.validator in shallow and len(c.relative_schema_path) == 2 for c in errs)]
    if len(near) == 1:
        return [m for c in near[0] for m in schema_message(c, root)]
    alts = " or ".join(_describe(s, root) for s in e.validator_value)
    return [f"config key '{config_key(e.absolute_path)}': {e.instance!r} is not valid here; give {alts}"]


def _property_name(e, key: str) -> str:
    """A mapping key the schema refuses (propertyNames): a model named 'real', a name with capitals."""
    name = e.instance
    where = _join(key, str(name))
    if e.validator == "not" and e.validator_value == {"const": REAL}:
        return (f"config key '{where}': {REAL!r} is reserved for the real-data run; rename the model "
                "(and the runs, grid and clip entries naming it)")
    if e.validator == "pattern":
        chars = "lower-case letters, digits and '_'" if "_" in e.validator_value else "lower-case letters and digits"
        return (f"config key '{where}': {name!r} is not a valid name here: use {chars}, starting with a letter "
                f"(the pattern {e.validator_value}); it becomes part of run names and file paths")
    return f"config key '{where}': the name {name!r} is not allowed here ({e.message})"


_PATTERN_WORDS = {
    "^[a-z][a-z0-9]*$": "lower-case letters and digits, starting with a letter",
    "^[a-z][a-z0-9_]*$": "lower-case letters, digits and '_', starting with a letter",
    "^[A-Za-z0-9][A-Za-z0-9_.-]*$": "letters, digits, '_', '.' and '-': it is part of file paths",
}
_EXP = re.compile(r"([-+]?[0-9]*\.?[0-9]+)[eE]([-+]?)([0-9]+)")


def _exponent_hint(text: str, wanted) -> str:
    """YAML 1.1 reads 1e12 and 1e-3 as text (a float needs a dot and a signed exponent)."""
    m = _EXP.fullmatch(text)
    value = float(text)
    if "integer" in (wanted if isinstance(wanted, list) else [wanted]) and value.is_integer():
        return f"YAML reads {text} as text: write {int(value)}"
    mant = m[1] if "." in m[1] else f"{m[1]}.0"
    return f"YAML reads {text} as text: write {mant}e{m[2] or '+'}{m[3]}"


def schema_message(e, root: dict) -> list[str]:
    """The messages of one jsonschema error (a oneOf may yield its alternative's several)."""
    key = config_key(e.absolute_path)
    if "propertyNames" in e.schema_path:
        return [_property_name(e, key)]
    if e.validator in ("oneOf", "anyOf"):
        return _one_of(e, root)
    if e.validator == "required":
        missing = _names(e.message)[0]
        return [f"config key '{_join(key, missing)}' is required here and missing; add it"]
    if e.validator == "additionalProperties" and e.validator_value is False and isinstance(e.instance, dict):
        known = list(e.schema.get("properties", {}))
        extras = [k for k in e.instance if k not in known]
        if len(extras) > 2:  # a section written for another kind (e.g. another family's train keys)
            return [f"config key '{key}': unknown keys {', '.join(map(repr, extras))} (were unexpected: is the "
                    f"section of another kind?); it takes {', '.join(known)}"]
        out = []
        for extra in extras:
            close = difflib.get_close_matches(str(extra), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            out.append(f"config key '{_join(key, str(extra))}': unknown key ({extra!r} was unexpected){hint}")
        return out
    if e.validator == "const":
        return [f"config key '{key}': must be {e.validator_value!r} here, not {e.instance!r}"]
    if e.validator == "enum":
        return [f"config key '{key}': {e.instance!r} is not one of {', '.join(map(repr, e.validator_value))}"]
    if e.validator == "minItems":
        return [f"config key '{key}': {e.instance!r} is too short; give at least {e.validator_value} item(s)"]
    if e.validator == "maxItems":
        return [f"config key '{key}': {e.instance!r} is too long; give at most {e.validator_value} item(s)"]
    if e.validator == "uniqueItems":
        return [f"config key '{key}': {e.instance!r} lists an item twice"]
    if e.validator == "type" and isinstance(e.instance, str) and _EXP.fullmatch(e.instance):
        return [f"config key '{key}': {e.message}; {_exponent_hint(e.instance, e.validator_value)}"]
    if e.validator == "type" and e.validator_value == "boolean":
        return [f"config key '{key}': {e.message}; give true or false"]
    if e.validator == "pattern" and e.validator_value in _PATTERN_WORDS:
        return [f"config key '{key}': {e.message} ({_PATTERN_WORDS[e.validator_value]})"]
    if e.validator == "maximum" and "description" in e.schema:
        return [f"config key '{key}': {e.message} ({e.schema['description']})"]
    return [f"config key '{key}': {e.message}"]
