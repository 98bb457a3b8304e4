"""Spec-driven strictness: one mechanism for every simulator whose provider publishes an OpenAPI description.

A simulator hands its provider's spec to `OpenAPISpec` and gets, for every request, the operation it addresses and
the list of `Violation`s the real API would reject (unknown query parameters, wrong types, values outside an enum or
a documented range, missing required parameters or headers). It renders those violations in its provider's own
error shape; nothing here knows what a provider's error looks like. The same object validates responses against
the spec for the conformance suite (`sandbox.common.conformance`), optionally through a reviewed overlay of the
fields the served version adds or drops relative to an older spec.

How a new simulator plugs in (Stripe and Klaviyo are the worked examples):

    SPEC = lazy_spec("zendesk/oas.yaml", query_style="form")        # or "brackets" for Rack-style a[b]=1 queries

    @app.middleware("http")
    async def strict(request, call_next):
        match = SPEC().match(request.method, request.url.path)        # NoRoute / MethodNotAllowed -> provider 404/405
        violations = match.operation.check(request.query_params.multi_items(), request.headers)
        if violations:
            return my_error_body(violations[0])                       # provider-shaped, e.g. {"error": ...}
        return await call_next(request)

    install_route_errors(app, not_found=..., method_not_allowed=...)  # Starlette's 404/405 in the provider's shape

(`sandbox.stripe.StripeGate` is the same check as pure ASGI middleware: `@app.middleware("http")` costs more CPU
per request than a list page's own work, which matters once a simulator serves a large benchmark.)

and `fallback_route(app, SPEC, empty_list=..., not_found=...)` last, so every documented GET the simulator does not
implement answers an empty collection or the provider's 404 instead of crashing.

Why hand-written on top of `jsonschema` rather than openapi-core: the real APIs reject parameters the spec does not
list (OpenAPI validators accept them), and Stripe's Rack-style brackets (`expand[]`, `expand[0]`, `created[gte]`)
are not OpenAPI's `deepObject` for arrays. Value checks themselves are jsonschema's.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT4
from starlette.requests import Request

from .specs import load_json_spec, load_yaml_spec

SPEC_URI = "urn:opsdata:spec"


@dataclass(frozen=True)
class Violation:
    """One reason the real API would reject a request, in terms a provider renders in its own error shape."""

    kind: str
    """unknown_parameter | missing_parameter | invalid_type | invalid_enum | out_of_range | too_long | invalid_value |
    missing_header"""
    param: str
    """As the client spelled it: `created[since]`, `page[size]`, `revision`."""
    message: str
    expected: str | None = None
    """For invalid_type: the expected JSON type (integer, boolean, array, ...)."""
    location: str = "query"


class NoRoute(Exception):
    """No documented path matches."""


class MethodNotAllowed(Exception):
    """The path is documented, not for this method."""

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(", ".join(allowed))
        self.allowed = allowed


# --- OpenAPI 3.0 schema -> JSON Schema ---------------------------------------------------------------------------------


def merge_all_of(node: Any, resolve: Callable[[Any], Any]) -> Any:
    """`allOf` members merged into one schema (properties and required united), so closing it does not make each
    member reject the others' properties (Klaviyo builds every resource as allOf [base, attributes])."""
    if isinstance(node, list):
        return [merge_all_of(v, resolve) for v in node]
    if not isinstance(node, dict):
        return node
    if "allOf" in node:
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for member in node["allOf"]:
            part = merge_all_of(resolve(member), resolve)
            merged.setdefault("properties", {}).update(part.get("properties") or {})
            merged["required"] = sorted(set(merged.get("required", [])) | set(part.get("required") or []))
            for key, value in part.items():
                if key not in ("properties", "required"):
                    merged.setdefault(key, value)
        if not merged.get("required"):
            merged.pop("required", None)
        node = merged
    return {k: merge_all_of(v, resolve) if k != "properties" else {n: merge_all_of(sub, resolve) for n, sub in v.items()} for k, v in node.items()}


def to_json_schema(node: Any, closed: bool = False) -> Any:
    """OpenAPI 3.0 schema objects as JSON Schema (draft 4 keywords): `nullable` becomes `anyOf [..., null]`, `oneOf`
    becomes `anyOf` (the providers' oneOfs have no discriminator and overlap, e.g. Klaviyo's send-options variants).
    `closed`: object schemas that list `properties` and say nothing about others reject unlisted keys, as Stripe's
    request parser does and as the conformance suite needs to see fields the spec does not know."""
    if isinstance(node, dict):
        out = {("anyOf" if k == "oneOf" else k): to_json_schema(v, closed) for k, v in node.items() if not k.startswith("x-")}
        for key in ("properties", "patternProperties"):  # their keys are property names, not keywords
            if key in node:
                out[key] = {name: to_json_schema(sub, closed) for name, sub in node[key].items()}
        out.pop("example", None)
        out.pop("discriminator", None)
        if closed and "properties" in out and "additionalProperties" not in out and out.get("type", "object") == "object":
            out["additionalProperties"] = False
        if out.pop("nullable", False):
            return {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [to_json_schema(v, closed) for v in node]
    return node


# --- query decoding --------------------------------------------------------------------------------------------------


def decode_brackets(items: Iterable[tuple[str, str]]) -> tuple[dict[str, Any], list[Violation]]:
    """Rack-style nesting as Stripe parses it: `a[b]=1` -> {"a": {"b": "1"}}; `a[]=x` and `a[0]=x` -> {"a": ["x"]}."""
    root: dict[str, Any] = {}
    problems: list[Violation] = []
    for key, value in items:
        m = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if not m:
            problems.append(Violation("invalid_value", key, f"Invalid parameter name: {key}"))
            continue
        parts = [m.group(1), *re.findall(r"\[([^\[\]]*)\]", m.group(2))]
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt_is_list = not last and (parts[i + 1] == "" or parts[i + 1].isdigit())
            if part == "":
                if not isinstance(node, list):
                    problems.append(Violation("invalid_type", key, f"Invalid array: {key}", "array"))
                    break
                if last:
                    node.append(value)
                else:
                    node.append([] if nxt_is_list else {})
                    node = node[-1]
                continue
            if isinstance(node, list):
                if not part.isdigit():
                    problems.append(Violation("invalid_type", key, f"Invalid array: {key}", "array"))
                    break
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if node[index] is None:
                        node[index] = [] if nxt_is_list else {}
                    node = node[index]
                continue
            if not isinstance(node, dict):
                problems.append(Violation("invalid_type", key, f"Invalid object: {key}", "object"))
                break
            if last:
                node[part] = value
            else:
                if part not in node or not isinstance(node[part], (dict, list)):
                    node[part] = [] if nxt_is_list else {}
                node = node[part]
    return root, problems


def decode_form(items: Iterable[tuple[str, str]]) -> tuple[dict[str, Any], list[Violation]]:
    """OpenAPI `form` style, names taken literally (`page[size]` is one name, as in Klaviyo's spec); a repeated
    name keeps every value."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            out[key] = [*(out[key] if isinstance(out[key], list) else [out[key]]), value]
        else:
            out[key] = value
    return out, []


QUERY_STYLES: dict[str, Callable[[Iterable[tuple[str, str]]], tuple[dict[str, Any], list[Violation]]]] = {
    "brackets": decode_brackets,
    "form": decode_form,
}


def _bracketed(base: str, path: Iterable[Any]) -> str:
    return base + "".join(f"[{p}]" for p in path)


def _types(schema: dict[str, Any]) -> set[str]:
    if "type" in schema:
        return {schema["type"]} if isinstance(schema["type"], str) else set(schema["type"])
    found: set[str] = set()
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, []):
            found |= _types(branch)
    return found or {"any"}


@dataclass(frozen=True)
class Coerced:
    value: Any
    schema: dict[str, Any]
    """The branch of an anyOf the value was read as (the schema itself otherwise)."""
    problem: tuple[tuple[Any, ...], str] | None = None
    """(path inside the value, expected type) when the value cannot be read as the schema says."""


def coerce(value: Any, schema: dict[str, Any], comma_arrays: bool) -> Coerced:
    """Query strings -> typed values per schema (integers, booleans, arrays, nested objects)."""
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        shape = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "scalar"
        fitting = [b for b in branches if (shape == "object") == ("object" in _types(b)) and (shape != "array" or "array" in _types(b))]
        first_problem = None
        for branch in fitting:
            result = coerce(value, branch, comma_arrays)
            if result.problem is None:
                return result
            first_problem = first_problem or result
        if first_problem is not None and first_problem.problem and first_problem.problem[0]:
            return first_problem  # the shape fitted, a value inside did not: name that one
        return Coerced(value, schema, ((), " or ".join(sorted(_types(schema)))))
    kind = schema.get("type")
    if kind == "array":
        if isinstance(value, str):
            if not comma_arrays:
                return Coerced(value, schema, ((), "array"))
            value = value.split(",") if value != "" else []
        if not isinstance(value, list):
            return Coerced(value, schema, ((), "array"))
        items = schema.get("items") or {}
        out = []
        for i, v in enumerate(value):
            c = coerce(v, items, comma_arrays)
            if c.problem:
                return Coerced(value, schema, ((i, *c.problem[0]), c.problem[1]))
            out.append(c.value)
        return Coerced(out, schema)
    if kind == "object":
        if not isinstance(value, dict):
            return Coerced(value, schema, ((), "object"))
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out_obj = {}
        for k, v in value.items():
            sub = props.get(k) or (extra if isinstance(extra, dict) else {})
            c = coerce(v, sub, comma_arrays)
            if c.problem:
                return Coerced(value, schema, ((k, *c.problem[0]), c.problem[1]))
            out_obj[k] = c.value
        return Coerced(out_obj, schema)
    if isinstance(value, (dict, list)):
        return Coerced(value, schema, ((), kind or "string"))
    if kind == "integer":
        if re.fullmatch(r"-?\d+", value or ""):
            return Coerced(int(value), schema)
        return Coerced(value, schema, ((), "integer"))
    if kind == "number":
        try:
            return Coerced(float(value), schema)
        except ValueError:
            return Coerced(value, schema, ((), "number"))
    if kind == "boolean":
        if value in ("true", "false"):
            return Coerced(value == "true", schema)
        return Coerced(value, schema, ((), "boolean"))
    return Coerced(value, schema)


def _at(value: Any, path: Iterable[Any]) -> Any:
    for p in path:
        value = value[p]
    return value


# --- operations ------------------------------------------------------------------------------------------------------


VERDICTS_KEPT = 4096
"""(parameter, value) verdicts an operation keeps (`Operation.check_query`) before starting over."""


@dataclass
class Operation:
    method: str
    template: str
    raw: dict[str, Any]
    spec: OpenAPISpec
    path_params: dict[str, str] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """What is derived from the spec alone (parameters, schemas, validators), one dict per (method, template) that
    every request's `Operation` shares: deriving it again on each request cost more than the request's own work."""

    def _derived(self, name: str, build: Callable[[], Any]) -> Any:
        found = self.shared.get(name)
        if found is None:
            found = self.shared[name] = build()
        return found

    @property
    def operation_id(self) -> str:
        return str(self.raw.get("operationId") or f"{self.method} {self.template}")

    @property
    def parameters(self) -> dict[tuple[str, str], dict[str, Any]]:
        def build() -> dict[tuple[str, str], dict[str, Any]]:
            found = {}
            for p in self.spec.resolve_list(self.spec.paths[self.template].get("parameters", [])) + self.spec.resolve_list(self.raw.get("parameters", [])):
                found[(p["in"], p["name"])] = p
            return found

        return self._derived("parameters", build)  # type: ignore[no-any-return]

    @property
    def _query_schemas(self) -> dict[str, dict[str, Any]]:
        closed = self.spec.query_style == "brackets"
        return self._derived(  # type: ignore[no-any-return]
            "query_schemas",
            lambda: {name: to_json_schema(self.spec.resolve(p.get("schema") or {}), closed=closed) for (where, name), p in self.parameters.items() if where == "query"},
        )

    def _validator(self, schema: dict[str, Any]) -> Any:
        """A validator of one query parameter's schema (kept with the schema it was made for: ids can be reused)."""
        validators: dict[int, tuple[dict[str, Any], Any]] = self._derived("validators", dict)
        found = validators.get(id(schema))
        if found is None or found[0] is not schema:
            found = validators[id(schema)] = (schema, jsonschema.Draft4Validator(schema))
        return found[1]

    def query_schema(self, name: str) -> dict[str, Any] | None:
        return self._query_schemas.get(name)

    def check(self, query_items: Iterable[tuple[str, str]], headers: Mapping[str, str] | None = None) -> list[Violation]:
        """Every reason the real API would reject this request's query and headers (empty: acceptable)."""
        violations = self.check_headers(headers) if headers is not None else []
        query, problems = self.decode(query_items)
        return violations + problems + self.check_query(query)

    def decode(self, query_items: Iterable[tuple[str, str]]) -> tuple[dict[str, Any], list[Violation]]:
        return QUERY_STYLES[self.spec.query_style](query_items)

    def coerced(self, query_items: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """The query decoded and typed per the spec (call after `check` found nothing)."""
        query, _ = self.decode(query_items)
        comma = self.spec.query_style == "form"
        out = {}
        for name, value in query.items():
            schema = self.query_schema(name)
            out[name] = coerce(value, schema, comma).value if schema is not None else value
        return out

    def check_headers(self, headers: Mapping[str, str]) -> list[Violation]:
        lowered = {k.lower() for k in headers}
        return [
            Violation("missing_header", name, f"The {name} header is required.", location="header")
            for (where, name), p in self.parameters.items()
            if where == "header" and p.get("required") and name.lower() not in lowered
        ]

    def check_query(self, query: dict[str, Any]) -> list[Violation]:
        violations: list[Violation] = []
        comma = self.spec.query_style == "form"
        brackets = self.spec.query_style == "brackets"
        # A parameter's verdict depends on its name and value alone: a plain value's is kept per operation, so the
        # pages of a cursor chain (the same filter, sort and size on every page) are checked against the schema once.
        known: dict[tuple[str, str], list[Violation]] = self._derived("verdicts", dict)
        for name, value in query.items():
            key = (name, value) if isinstance(value, str) else None
            found = known.get(key) if key is not None else None
            if found is None:
                found = self._check_parameter(name, value, comma, brackets)
                if key is not None:
                    if len(known) >= VERDICTS_KEPT:
                        known.clear()  # cursors and windows long past
                    known[key] = found
            violations += found
        for (where, name), p in self.parameters.items():
            if where == "query" and p.get("required") and name not in query:
                violations.append(Violation("missing_parameter", name, f"Missing required param: {name}."))
        return violations

    def _check_parameter(self, name: str, value: Any, comma: bool, brackets: bool) -> list[Violation]:
        schema = self.query_schema(name)
        if schema is None:
            shown = _first_key(name, value) if brackets else name
            return [Violation("unknown_parameter", shown, f"Received unknown parameter: {shown}")]
        typed = coerce(value, schema, comma)
        if typed.problem is not None:
            path, expected = typed.problem
            shown = _bracketed(name, path) if brackets else name
            bad = _at(value, path) if isinstance(value, (dict, list)) else value
            return [Violation("invalid_type", shown, f"Invalid {expected}: {_show(bad)}", expected)]
        return _schema_violations(name, typed.value, self._validator(typed.schema), brackets)

    @property
    def success_schema(self) -> dict[str, Any] | None:
        return self._derived("success_schema", lambda: (self.spec.response_schema(self, 200),))[0]  # type: ignore[no-any-return]

    def is_collection(self) -> bool:
        """Whether the documented 200 body is a collection (a Stripe list or a JSON:API array of resources)."""
        schema = self.spec.resolve(self.success_schema or {})
        props = schema.get("properties") or {}
        if "data" in props:
            data = self.spec.resolve(props["data"])
            if data.get("type") == "array":
                return True
        obj = self.spec.resolve(props.get("object") or {})
        return obj.get("enum") in (["list"], ["search_result"])


def _first_key(name: str, value: Any) -> str:
    """`created[since]` rather than `created`: the deepest key the client sent, as Stripe names it."""
    if isinstance(value, dict) and value:
        key = next(iter(value))
        return _first_key(f"{name}[{key}]", value[key])
    return name


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _schema_violations(name: str, value: Any, validator: Any, brackets: bool) -> list[Violation]:
    out = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
        where = _bracketed(name, error.absolute_path) if brackets else name
        keyword = error.validator
        if keyword == "additionalProperties" and isinstance(error.instance, dict):
            known = set((error.schema or {}).get("properties") or {})
            for extra in sorted(set(error.instance) - known):
                shown = _bracketed(where, [extra]) if brackets else where
                out.append(Violation("unknown_parameter", shown, f"Received unknown parameter: {shown}"))
            continue
        if keyword == "enum":
            values = [str(v) for v in error.validator_value]
            allowed = ", ".join(values[:12]) + (f", ... ({len(values)} values)" if len(values) > 12 else "")
            out.append(Violation("invalid_enum", where, f"Invalid {where}: {_show(error.instance)!r} must be one of {allowed}"))
        elif keyword in ("maximum", "minimum", "maxItems", "minItems"):
            out.append(Violation("out_of_range", where, f"Invalid {where}: {error.message}"))
        elif keyword in ("maxLength", "minLength"):
            out.append(Violation("too_long" if keyword == "maxLength" else "invalid_value", where, f"Invalid {where}: {error.message}"))
        elif keyword == "type":
            out.append(Violation("invalid_type", where, f"Invalid {error.validator_value}: {_show(error.instance)}", str(error.validator_value)))
        else:
            out.append(Violation("invalid_value", where, f"Invalid {where}: {error.message}"))
    return out


# --- the spec --------------------------------------------------------------------------------------------------------


class OpenAPISpec:
    """An OpenAPI 3 document, indexed for matching requests to operations and validating both directions."""

    def __init__(self, document: dict[str, Any], query_style: str = "form", path_prefix: str = "") -> None:
        if query_style not in QUERY_STYLES:
            raise ValueError(f"unknown query style {query_style!r}; choose one of {sorted(QUERY_STYLES)}")
        self.document = document
        self.query_style = query_style
        self.path_prefix = path_prefix
        self.paths: dict[str, dict[str, Any]] = document.get("paths", {})
        routes = []
        for template in self.paths:
            regex = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "/?$")
            names = re.findall(r"\{([^}]+)\}", template)
            literal = len([s for s in template.split("/") if s and not s.startswith("{")])
            routes.append((-literal, template, regex, names))
        # Literal segments win over parameters (`/v1/customers/search` before `/v1/customers/{customer}`).
        routes.sort(key=lambda r: (r[0], r[1]))
        self._routes = [(t, r, n) for _, t, r, n in routes]
        # Each request tries only the templates that can match its first two segments (in the order above), not
        # every template of the spec (hundreds for Stripe): those whose first two segments are literal, by them,
        # and those with a parameter there, always.
        self._by_head: dict[tuple[str, ...], list[tuple[str, Any, list[str]]]] = {}
        self._any_head: list[tuple[int, tuple[str, Any, list[str]]]] = []
        for i, route in enumerate(self._routes):
            head = _head(route[0])
            if any(part.startswith("{") for part in head):
                self._any_head.append((i, route))
            else:
                self._by_head.setdefault(head, []).append(route)
        self._order = {route[0]: i for i, route in enumerate(self._routes)}
        self._shared: dict[tuple[str, str], dict[str, Any]] = {}
        self._validators: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def _operation(self, method: str, template: str, path_params: dict[str, str] | None = None) -> Operation:
        shared = self._shared.setdefault((method, template), {})
        return Operation(method, template, self.paths[template][method], self, path_params or {}, shared)

    def _candidates(self, path: str) -> list[tuple[str, Any, list[str]]]:
        literal = self._by_head.get(_head(path), [])
        if not self._any_head:
            return literal
        merged = [(self._order[r[0]], r) for r in literal] + self._any_head
        return [r for _, r in sorted(merged, key=lambda x: x[0])]

    @property
    def version(self) -> str:
        return str(self.document.get("info", {}).get("version", ""))

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = self.pointer(node["$ref"])
        return node

    def resolve_list(self, nodes: list[Any]) -> list[Any]:
        return [self.resolve(n) for n in nodes]

    def pointer(self, ref: str) -> Any:
        node: Any = self.document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def match(self, method: str, path: str) -> Operation:
        """The operation a request addresses. Raises NoRoute or MethodNotAllowed (with the allowed methods)."""
        path = path.removeprefix(self.path_prefix) or "/"
        method = method.lower()
        allowed: list[str] = []
        for template, regex, names in self._candidates(path):
            m = regex.match(path)
            if not m:
                continue
            item = self.paths[template]
            if method in item:
                return self._operation(method, template, dict(zip(names, m.groups(), strict=True)))
            allowed += [k.upper() for k in item if k in ("get", "post", "put", "patch", "delete")]
        if allowed:
            raise MethodNotAllowed(sorted(set(allowed)))
        raise NoRoute(path)

    def operations(self, method: str = "get") -> list[Operation]:
        return [self._operation(method, t) for t, item in self.paths.items() if method in item]

    def operation(self, method: str, template: str) -> Operation:
        return self._operation(method.lower(), template)

    # --- responses -------------------------------------------------------------------------------------------------

    def response_pointer(self, operation: Operation, status: int) -> str | None:
        """JSON pointer to the documented body schema for `status` (exact, then 4XX/5XX, then default)."""
        responses = operation.raw.get("responses", {})
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                break
        else:
            return None
        base = f"#/paths/{_escape(operation.template)}/{operation.method}/responses/{key}"
        response = responses[key]
        if "$ref" in response:
            base, response = response["$ref"], self.resolve(response)
        for media, content in (response.get("content") or {}).items():
            if "json" in media and "schema" in content:
                return f"{base}/content/{_escape(media)}/schema"
        return None

    def response_schema(self, operation: Operation, status: int) -> dict[str, Any] | None:
        ptr = self.response_pointer(operation, status)
        return self.pointer(ptr) if ptr else None

    def response_validator(self, operation: Operation, status: int, overlay: Callable[[dict[str, Any]], None] | None = None) -> Any:
        """A jsonschema validator for the documented body of `status` (closed objects: unlisted fields are errors).
        `overlay` patches the converted document once (e.g. the reviewed differences of a newer served version)."""
        ptr = self.response_pointer(operation, status)
        if ptr is None:
            return None
        registry = self._registry(overlay)
        with self._lock:
            key = (ptr, id(overlay))
            if key not in self._validators:
                self._validators[key] = jsonschema.Draft4Validator({"$ref": f"{SPEC_URI}{ptr}"}, registry=registry)
            return self._validators[key]

    def _registry(self, overlay: Callable[[dict[str, Any]], None] | None) -> Registry:
        with self._lock:
            key = ("registry", id(overlay))
            if key not in self._validators:
                converted = to_json_schema(merge_all_of(self.document, self.resolve), closed=True)
                if overlay is not None:
                    overlay(converted)
                self._validators[key] = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(converted))
            return self._validators[key]  # type: ignore[no-any-return]


def _head(path: str) -> tuple[str, ...]:
    """The first two segments of a path or template (fewer if it has fewer), the key `match` narrows by."""
    return tuple(path.strip("/").split("/")[:2])


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def lazy_spec(relative: str, query_style: str = "form", path_prefix: str = "") -> Callable[[], OpenAPISpec]:
    """A loader that reads the vendored spec once per process, on first use (the Stripe YAML takes seconds)."""
    lock = threading.Lock()
    holder: list[OpenAPISpec] = []

    def get() -> OpenAPISpec:
        with lock:
            if not holder:
                loader = load_yaml_spec if relative.endswith((".yaml", ".yml")) else load_json_spec
                holder.append(OpenAPISpec(loader(relative), query_style=query_style, path_prefix=path_prefix))
            return holder[0]

    return get


def warm(spec: Callable[[], OpenAPISpec]) -> None:
    """Load a lazy spec in the background, so the first request does not wait for it."""
    threading.Thread(target=spec, daemon=True, name="spec-warmup").start()


# --- FastAPI glue ----------------------------------------------------------------------------------------------------


def local_path(request: Any) -> str:
    """The request path inside a mounted simulator (`/v1/charges`, not `/stripe/v1/charges`)."""
    return str(request.url.path).removeprefix(request.scope.get("root_path", "")) or "/"


def install_route_errors(app: Any, not_found: Callable[[Any], Any], method_not_allowed: Callable[[Any, list[str]], Any]) -> None:
    """Answer routing misses in the provider's shape instead of FastAPI's `{"detail": "Not Found"}`."""
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def route_error(request: Any, exc: StarletteHTTPException) -> Any:
        if exc.status_code == 405:
            allowed = [m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()]
            return method_not_allowed(request, allowed)
        return not_found(request)


def fallback_route(
    app: Any,
    spec: Callable[[], OpenAPISpec],
    empty_list: Callable[[Any, Operation], Any],
    not_found: Callable[[Any, Operation | None], Any],
    method_not_allowed: Callable[[Any, list[str]], Any],
    unsupported: Callable[[Any, Operation], Any],
) -> None:
    """Register last: documented operations the simulator does not implement answer as the provider would for an
    account without such objects (an empty collection, or its 404 for an id); undocumented paths get its 404."""

    async def fallback(request: Request, rest: str = "") -> Any:
        try:
            op = spec().match(request.method, local_path(request))
        except MethodNotAllowed as exc:
            return method_not_allowed(request, exc.allowed)
        except NoRoute:
            return not_found(request, None)
        if op.method != "get":
            return unsupported(request, op)
        if op.is_collection():
            return empty_list(request, op)  # nested ones (`/customers/{id}/x`) check their parent exists
        return not_found(request, op) if op.path_params else unsupported(request, op)

    app.add_api_route("/{rest:path}", fallback, methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)


