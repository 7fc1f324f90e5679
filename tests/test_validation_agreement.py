"""The fast validator (fastjsonschema) and the explaining one (jsonschema) must agree on
every request body, or a client would see a 422 without a reason, or a bad body accepted.

Bodies are made from each request schema of the OpenAPI document: a minimal valid one, then
every field missing, of every other JSON type, null, empty, too long or too large, plus an
unknown field — each checked by both validators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hub import openapi, validation

ODD_VALUES: list[Any] = [None, True, 0, -1, 1.5, 2**63, "", " ", "x" * 5000, "text",
                         [], [1], ["a"], {}, {"a": 1}]


def request_schemas() -> list[str]:
    names = set()
    for item in openapi.DOCUMENT["paths"].values():
        for op in item.values():
            ref = (op.get("requestBody", {}).get("content", {}).get("application/json", {})
                   .get("schema", {}).get("$ref")) if isinstance(op, dict) else None
            if ref:
                names.add(ref.rsplit("/", 1)[1])
    return sorted(names)


def example(schema: dict[str, Any]) -> Any:
    """A plain value of the schema's type (valid for simple schemas, often not for others)."""
    schema = validation._json_schema(schema)
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return example(schema["anyOf"][0])
    return {"string": "some words", "integer": 1, "number": 1, "boolean": True, "array": [],
            "object": {name: example(prop) for name, prop in
                       schema.get("properties", {}).items()
                       if name in schema.get("required", [])}}.get(str(kind), "x")


def bodies(name: str) -> Iterator[Any]:
    schema = validation._json_schema(openapi.SCHEMAS[name])
    yield from ODD_VALUES
    properties = schema.get("properties", {})
    full = {field: example(prop) for field, prop in properties.items()}
    base = example(schema)
    for start in (base, full):
        if not isinstance(start, dict):
            continue
        yield start
        yield {**start, "not_a_field": 1}
        for field in properties:
            yield {k: v for k, v in start.items() if k != field}
            for value in ODD_VALUES:
                yield {**start, field: value}
    for field in properties:  # one field alone, which the anyOf schemas choose between
        for value in [example(properties[field]), *ODD_VALUES]:
            yield {field: value}


@pytest.mark.parametrize("name", request_schemas())
def test_the_fast_and_the_explaining_validator_agree(name: str) -> None:
    explaining = validation._validator(name)
    checked = 0
    for body in bodies(name):
        fast = validation.valid(name, body)
        assert fast == explaining.is_valid(body), (name, body)
        assert (validation.body_problem(name, body) is None) == fast, (name, body)
        checked += 1
    assert checked > 20


def test_every_request_schema_is_covered() -> None:
    assert {"VisitorMessage", "Article", "Notify", "CampaignNew"} <= set(request_schemas())
