"""Conformance harness: requests generated from a provider's spec, responses checked against it, tallied.

Any simulator with an `OpenAPISpec` plugs in with a few lines (the suite in `tests/sandbox/conformance/` is the
worked example for Stripe and Klaviyo):

    strategy = query_strategy(spec.operation("get", "/v1/charges"))       # hypothesis: valid queries from the spec
    exchange = Exchange("GET", "/v1/charges", items, response.status_code, response.headers, response.json())
    problems = check_exchange(spec, exchange, overlay=None)              # [] = conforms
    report.add(exchange, problems)

`check_exchange` validates status (documented for the operation), media type (JSON) and body (the documented schema
of that status, objects closed: a field the spec does not know is a problem, unless the `overlay` (a reviewed list of
version differences) adds it). `mutations` derives invalid queries (unknown parameter, wrong type, value outside an
enum or a documented range) the real API rejects: a simulator conforms when it answers them with 4xx in its error
schema. Recorded traffic (`SandboxState.options["record_traffic"]`, see `sandbox.server`) goes through the same check.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .openapi import MethodNotAllowed, NoRoute, OpenAPISpec, Operation


@dataclass
class Exchange:
    method: str
    path: str
    query: list[tuple[str, str]]
    status: int
    headers: dict[str, str]
    body: Any

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Exchange:
        try:
            body = json.loads(record["body"]) if record["body"] else None
        except ValueError:
            body = record["body"]
        return cls(record["method"], record["path"], [tuple(q) for q in record["query"]], record["status"], record["headers"], body)  # type: ignore[misc]


def check_exchange(spec: OpenAPISpec, exchange: Exchange, overlay: Callable[[dict[str, Any]], None] | None = None) -> list[str]:
    """Problems that make this response differ from what the spec documents ([] = it conforms)."""
    try:
        op = spec.match(exchange.method, exchange.path)
    except (NoRoute, MethodNotAllowed):
        return [] if exchange.status == 404 or exchange.status == 405 else [f"undocumented route answered {exchange.status}"]
    if exchange.status >= 500:
        return [f"server error {exchange.status}"]
    media = {k.lower(): v for k, v in exchange.headers.items()}.get("content-type", "")
    if exchange.status != 204 and "json" not in media:
        return [f"content-type {media!r} is not JSON"]
    validator = spec.response_validator(op, exchange.status, overlay)
    if validator is None:
        return [f"status {exchange.status} is not documented for {op.operation_id}"]
    return [_describe(e) for e in sorted(validator.iter_errors(exchange.body), key=lambda e: list(e.absolute_path))[:5]]


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    leaf = error
    while leaf.context:
        leaf = max(leaf.context, key=lambda e: len(list(e.absolute_path)))  # the branch that got furthest
    return f"{where}: {leaf.message[:200]}"


@dataclass
class Report:
    """Conforming responses / total, per operation, with the first problems seen."""

    total: Counter[str] = field(default_factory=Counter)
    conforming: Counter[str] = field(default_factory=Counter)
    problems: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, operation: str, problems: list[str]) -> None:
        self.total[operation] += 1
        if problems:
            if len(self.problems[operation]) < 5:
                self.problems[operation].extend(problems[:2])
        else:
            self.conforming[operation] += 1

    def summary(self) -> str:
        lines = [f"{sum(self.conforming.values())}/{sum(self.total.values())} responses conform across {len(self.total)} operations"]
        for op in sorted(self.total):
            mark = "" if self.conforming[op] == self.total[op] else "  <-- " + "; ".join(self.problems[op][:2])
            lines.append(f"  {op}: {self.conforming[op]}/{self.total[op]}{mark}")
        return "\n".join(lines)


def operation_name(spec: OpenAPISpec, exchange: Exchange) -> str:
    try:
        return spec.match(exchange.method, exchange.path).operation_id
    except (NoRoute, MethodNotAllowed):
        return f"{exchange.method} (undocumented)"


# --- generating requests ----------------------------------------------------------------------------------------------


def encode(value: Any, name: str, style: str) -> list[tuple[str, str]]:
    """A typed value as query items in the spec's style (Stripe brackets as its SDK sends them, or form)."""
    if isinstance(value, bool):
        return [(name, "true" if value else "false")]
    if style == "brackets":
        if isinstance(value, dict):
            return [item for k, v in value.items() for item in encode(v, f"{name}[{k}]", style)]
        if isinstance(value, list):
            return [item for i, v in enumerate(value) for item in encode(v, f"{name}[{i}]", style)]
        return [(name, str(value))]
    if isinstance(value, list):
        return [(name, ",".join(str(v) for v in value))]
    return [(name, str(value))]


def query_strategy(op: Operation, skip: Iterable[str] = (), overrides: dict[str, Any] | None = None) -> Any:
    """A hypothesis strategy of valid query-item lists for `op`: any subset of its documented parameters, each
    value drawn from the parameter's schema (`overrides`: a strategy per parameter where the schema alone would
    rarely hit real data, e.g. ids)."""
    from hypothesis import strategies as st

    names = sorted(n for (where, n) in op.parameters if where == "query" and n not in set(skip))
    per_param = {}
    for n in names:
        if overrides and n in overrides:
            per_param[n] = overrides[n]
            continue
        per_param[n] = value_strategy(_generatable(op.query_schema(n) or {}))
    required = {n for (where, n), p in op.parameters.items() if where == "query" and p.get("required")}

    @st.composite
    def build(draw: Any) -> list[tuple[str, str]]:
        chosen = draw(st.sets(st.sampled_from(names), max_size=3)) if names else set()
        items: list[tuple[str, str]] = []
        for n in sorted(chosen | (required & set(names))):
            items += encode(draw(per_param[n]), n, op.spec.query_style)
        return items

    return build()


def value_strategy(schema: dict[str, Any]) -> Any:
    """Values for one parameter schema. Objects, arrays and unions are composed here, scalars come from
    hypothesis-jsonschema (whose own object strategy breaks on current hypothesis)."""
    from hypothesis import strategies as st
    from hypothesis_jsonschema import from_schema

    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return st.one_of([value_strategy(b) for b in branches])
    if schema.get("type") == "object":
        props = schema.get("properties") or {}
        return st.fixed_dictionaries({}, optional={k: value_strategy(v) for k, v in props.items()})
    if schema.get("type") == "array":
        return st.lists(value_strategy(schema.get("items") or {"type": "string"}), min_size=1, max_size=int(schema.get("maxItems", 3)), unique=True)
    return from_schema(schema or {"type": "string"})


def _generatable(schema: Any) -> Any:
    """Query values are text on the wire: keep strings printable and short, objects closed."""
    if isinstance(schema, dict):
        out = {k: _generatable(v) for k, v in schema.items()}
        if out.get("type") == "string" and "enum" not in out and "format" not in out:
            out.setdefault("pattern", "^[A-Za-z0-9_.:-]{1,24}$")
            out.pop("maxLength", None)
        if out.get("type") == "array":
            out.setdefault("maxItems", 3)
            if op_items := out.get("items"):
                out["items"] = op_items
        return out
    if isinstance(schema, list):
        return [_generatable(v) for v in schema]
    return schema


def mutations(op: Operation) -> list[tuple[str, list[tuple[str, str]]]]:
    """(what is wrong, query items) the real API rejects with a 4xx: one per kind of mistake the spec lets us derive."""
    out: list[tuple[str, list[tuple[str, str]]]] = [("unknown parameter", [("sandbox_unknown_param", "1")])]
    for (where, name), _p in sorted(op.parameters.items()):
        if where != "query":
            continue
        schema = op.query_schema(name) or {}
        kinds = {schema.get("type")} | {b.get("type") for b in schema.get("anyOf", [])}
        if kinds & {"integer"} and not kinds & {"object", "string"}:
            out.append((f"{name}: not an integer", encode("not-a-number", name, op.spec.query_style)))
        if schema.get("type") == "string" and schema.get("enum"):
            out.append((f"{name}: not in its enum", encode("sandbox-not-a-value", name, op.spec.query_style)))
        items = schema.get("items") or {}
        if schema.get("type") == "array" and items.get("enum"):
            out.append((f"{name}: item not in its enum", encode(["sandbox-not-a-value"], name, op.spec.query_style)))
        if "maximum" in schema:
            out.append((f"{name}: above its maximum", encode(int(schema["maximum"]) + 1, name, op.spec.query_style)))
        if schema.get("type") == "object" and schema.get("properties"):
            out.append((f"{name}: unknown key", encode({"sandbox_unknown": 1}, name, op.spec.query_style)))
    return out


_JSONAPI_OVERLAYS: dict[tuple[bool, tuple[str, ...]], Callable[[dict[str, Any]], None]] = {}


def jsonapi_overlay(query: list[tuple[str, str]]) -> Callable[[dict[str, Any]], None] | None:
    """What a JSON:API spec's resource schemas cannot say: `fields[type]=` leaves required attributes out, and
    `additional-fields[type]=f` adds `f`. Returns an overlay for the request (one per distinct shape, cached)."""
    sparse = any(k.startswith("fields[") for k, _ in query)
    extra = tuple(sorted({f for k, v in query if k.startswith("additional-fields[") for f in v.split(",") if f}))
    if not sparse and not extra:
        return None
    key = (sparse, extra)
    if key not in _JSONAPI_OVERLAYS:

        def overlay(document: dict[str, Any]) -> None:
            if sparse:  # a sparse fieldset may cut any attribute, nested ones too (`fields[x]=a.b`)
                _drop_required(document["components"])

            def walk(node: Any) -> None:
                if isinstance(node, dict):
                    attrs = (node.get("properties") or {}).get("attributes")
                    if isinstance(attrs, dict):
                        if sparse:
                            attrs.pop("required", None)
                            for sub in (attrs.get("properties") or {}).values():
                                _drop_required(sub)
                        if extra and "properties" in attrs:
                            attrs["properties"].update({f: {} for f in extra if f not in attrs["properties"]})
                    for v in node.values():
                        walk(v)
                elif isinstance(node, list):
                    for v in node:
                        walk(v)

            walk(document)

        _JSONAPI_OVERLAYS[key] = overlay
    return _JSONAPI_OVERLAYS[key]


def _drop_required(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("required", None)
        for v in node.values():
            _drop_required(v)
    elif isinstance(node, list):
        for v in node:
            _drop_required(v)
