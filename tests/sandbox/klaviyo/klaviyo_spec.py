"""Validate Klaviyo documents and requests against the official OpenAPI spec (specs/klaviyo/stable.json)."""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from sandbox.common.specs import load_json_spec

URI = "urn:klaviyo-spec"


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` -> JSON Schema `anyOf [..., null]`; `oneOf` -> `anyOf` because Klaviyo's
    oneOfs have no discriminator and overlap (e.g. every send-options variant accepts `{use_smart_sending}`)."""
    if isinstance(node, dict):
        node = {("anyOf" if k == "oneOf" else k): _nullable(v) for k, v in node.items()}
        if node.pop("nullable", False):
            return {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@functools.cache
def spec() -> dict[str, Any]:
    return load_json_spec("klaviyo/stable.json")


@functools.cache
def _registry() -> Registry:
    return Registry().with_resource(URI, Resource(contents=_nullable(spec()), specification=DRAFT7))


def operation(method: str, path: str) -> dict[str, Any]:
    return spec()["paths"][path][method.lower()]  # type: ignore[no-any-return]


def response_schema(method: str, path: str, status: str = "200") -> dict[str, Any]:
    responses = operation(method, path)["responses"]
    if status.startswith("4") and status not in responses:
        status = "4XX"
    response = responses[status]
    if "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1]
        response = spec()["components"]["responses"][name]
    return _nullable(response["content"]["application/vnd.api+json"]["schema"])  # type: ignore[no-any-return]


def validate_response(method: str, path: str, body: Any, status: str = "200") -> None:
    """Raise jsonschema.ValidationError unless `body` matches the documented response of this operation."""
    schema = response_schema(method, path, status)
    schema = json.loads(json.dumps(schema).replace('"#/components', f'"{URI}#/components'))
    jsonschema.Draft7Validator(schema, registry=_registry()).validate(body)


def query_param(method: str, path: str, name: str) -> dict[str, Any] | None:
    for p in operation(method, path).get("parameters", []):
        if p.get("name") == name:
            return p  # type: ignore[no-any-return]
    return None


def allowed_filters(method: str, path: str) -> dict[str, set[str]]:
    """field -> allowed operators, from `x-klaviyo-filters`."""
    found: dict[str, set[str]] = {}
    for fld, spec_ in (operation(method, path).get("x-klaviyo-filters") or {}).items():
        ops: set[str] = set()
        for group in spec_.get("operators", {}).values():
            ops.update(group)
        found[fld] = ops
    return found


def rate_limit(method: str, path: str) -> tuple[int, int]:
    """(burst per second, steady per minute) from `x-klaviyo-ratelimit`."""
    rl = operation(method, path)["x-klaviyo-ratelimit"]
    return int(rl["burst"].split("/")[0]), int(rl["steady"].split("/")[0])
