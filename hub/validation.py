"""Request bodies checked against the OpenAPI document's own schemas (hub/openapi.py).

``hub.errors.json_body(request, "Article")`` validates a body with the very schema the
document publishes for it, so what a client is told and what the server accepts cannot
drift apart. The document is OpenAPI 3.0; its schemas are turned into JSON Schema (draft 4,
which 3.0's schema objects are based on) and compiled once each.

Two validators read the same JSON Schema: fastjsonschema's generated code decides whether a
body is valid (a few microseconds), and only a body it refuses goes through jsonschema, whose
errors say best what is wrong. jsonschema alone cost about half of the event loop's time per
web-chat message at saturation (``bench/webhooks.py``): its ``anyOf`` builds an error object
for every branch that does not match, even when the body is valid. The two are checked to
agree (tests/test_validation_agreement.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import fastjsonschema
from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match

from hub import openapi

_NOT_JSON_SCHEMA = frozenset({"nullable", "readOnly", "description", "format", "default"})


def _json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema (draft 4): references inlined, ``nullable``
    as a ``null`` type, ``int64`` as its range. A read-only property (the server's to set)
    is ignored when sent, but must still have its type."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _json_schema(openapi.SCHEMAS[node["$ref"].rsplit("/", 1)[1]])
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":  # names, not keywords: every one is kept
            out[key] = {name: _json_schema(prop) for name, prop in value.items()}
        elif key not in _NOT_JSON_SCHEMA:
            out[key] = _json_schema(value)
    if node.get("format") == "int64":
        out.setdefault("minimum", openapi.INT64_MIN)
        out.setdefault("maximum", openapi.INT64_MAX)
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    return out


@functools.cache
def _validator(name: str) -> Draft4Validator:
    return Draft4Validator(_json_schema(openapi.SCHEMAS[name]))


@functools.cache
def _fast_validator(name: str) -> Callable[[Any], Any]:
    schema = {"$schema": "http://json-schema.org/draft-04/schema#",
              **_json_schema(openapi.SCHEMAS[name])}
    return fastjsonschema.compile(schema, use_default=False, use_formats=False,
                                  detailed_exceptions=False)  # jsonschema explains


def valid(name: str, body: Any) -> bool:
    """Whether ``body`` is a valid ``name`` (the fast check)."""
    try:
        _fast_validator(name)(body)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def body_required(name: str) -> bool:
    """Whether the document requires a body of schema ``name`` where it is used."""
    return name not in openapi.OPTIONAL_BODIES


_KINDS = {"string": "a string", "integer": "an integer", "number": "a number",
          "boolean": "true or false", "array": "a list", "object": "an object"}


def body_problem(name: str, body: Any) -> str | None:
    """What is wrong with ``body`` as a ``name`` (the message of a 422), or None."""
    if valid(name, body):
        return None
    error = best_match(_validator(name).iter_errors(body))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = next(p for p in error.validator_value if p not in error.instance)
        return f"field '{f'{where}.' if where else ''}{missing}' is required"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"field '{f'{where}.' if where else ''}{extra[0]}' is unknown"
    label = f"field '{where}'" if where else "the body"
    if error.validator == "type":
        types = error.validator_value if isinstance(error.validator_value, list) \
            else [error.validator_value]
        return f"{label} must be " + " or ".join(
            _KINDS.get(str(t), str(t)) for t in types if t != "null")
    if error.validator == "pattern" and error.validator_value == openapi.NOT_BLANK:
        return f"{label} is empty"
    if error.validator == "enum":
        return f"{label} must be one of " + ", ".join(
            repr(v) for v in error.validator_value if v is not None)
    if error.validator == "anyOf":
        options = error.validator_value
        if all("required" in option for option in options):
            return f"{label} must have " + " or ".join(
                " and ".join(f"'{f}'" for f in option["required"]) for option in options)
        kinds = [_KINDS.get(str(option.get("type")), "null") for option in options]
        return f"{label} must be " + " or ".join(k for k in kinds if k != "null")
    return f"{label}: {error.message}"
