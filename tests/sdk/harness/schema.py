"""Strict JSON types: every successful response must match the SDK model's
declared types exactly, not merely deserialize.

The Python SDK converts primitives while deserializing (`str(4)`, `int("4")`),
so a number sent where the model declares a string passes unnoticed there, yet
breaks the statically typed SDKs (Go, Java) generated from the same
definitions. `openapi_types` / `attribute_map` of each model are those
definitions; this walks the raw body against them.
"""

from __future__ import annotations

import json
import re

from huaweicloudsdkworkspace.v2 import model as sdk_models

_LIST = re.compile(r"^list\[(.*)\]$")
_DICT = re.compile(r"^dict\(([^,]*), (.*)\)$")


def mismatches(value, declared: str, path: str = "$") -> list[str]:
    """Where `value` (parsed JSON) does not have the type `declared` in the SDK's notation."""
    if value is None:
        # Absent and null both read as None in every SDK.
        return []
    if m := _LIST.match(declared):
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__} where the SDK declares {declared}"]
        return [p for i, v in enumerate(value) for p in mismatches(v, m.group(1), f"{path}[{i}]")]
    if m := _DICT.match(declared):
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__} where the SDK declares {declared}"]
        return [p for k, v in value.items() for p in mismatches(v, m.group(2), f"{path}.{k}")]
    primitive = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "object": lambda v: True,
    }
    if declared in primitive:
        if primitive[declared](value):
            return []
        return [f"{path}: {json.dumps(value)} is a {type(value).__name__}, the SDK declares {declared}"]
    klass = getattr(sdk_models, declared, None)
    if klass is None:
        return [f"{path}: the SDK has no model {declared}"]
    if not getattr(klass, "openapi_types", None):
        # Enum-like models (EncryptType ...) carry a plain string.
        return [] if isinstance(value, str) else [f"{path}: {type(value).__name__} for enum {declared}"]
    if not isinstance(value, dict):
        return [f"{path}: {type(value).__name__} where the SDK declares the object {declared}"]
    by_key = {klass.attribute_map[a]: t for a, t in klass.openapi_types.items()}
    return [p for k, v in value.items() if k in by_key for p in mismatches(v, by_key[k], f"{path}.{k}")]


def check_response(raw: bytes, response_type: str) -> None:
    """Fail if the raw body of a successful `response_type` does not match the model."""
    if not raw:
        return
    body = json.loads(raw)
    problems = mismatches(body, response_type)
    assert not problems, f"{response_type} does not match the SDK's types:\n  " + "\n  ".join(problems)
