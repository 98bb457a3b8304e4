"""Every simulator with a machine-readable spec, driven from that spec and checked against it.

- Generated requests (hypothesis, from each served operation's documented parameters): every response conforms to
  the documented schema of its status. Stripe is checked at both versions it renders: the spec's own (against the
  spec as it is) and the SDK's (through the reviewed `KNOWN_DIFFERENCES` overlay, nothing else).
- Mutated requests (unknown parameter, wrong type, value outside an enum or range): rejected with 400 in the
  provider's error schema, naming the parameter.
- Recorded traffic: the project's own Stripe and Klaviyo pipelines run through a recording sandbox; every exchange
  conforms.
The tallies print at the end (`pytest tests/sandbox/conformance -s`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.common.conformance import (
    Exchange,
    Report,
    check_exchange,
    jsonapi_overlay,
    mutations,
    operation_name,
    query_strategy,
)
from sandbox.common.openapi import OpenAPISpec
from sandbox.klaviyo import SANDBOX_CREDENTIALS as KLAVIYO
from sandbox.klaviyo import SPEC as KLAVIYO_SPEC
from sandbox.server import SandboxServer
from sandbox.stripe import SANDBOX_CREDENTIALS as STRIPE
from sandbox.stripe import SPEC as STRIPE_SPEC
from sandbox.stripe import objects, versions
from tests.helpers import http

STRIPE_HEADERS = {"Authorization": f"Bearer {STRIPE['api_key']}"}
KLAVIYO_HEADERS = {"Authorization": f"Klaviyo-API-Key {KLAVIYO['api_key']}", "revision": "2026-07-15"}
REPORTS: dict[str, Report] = {}
EXAMPLES = 6


def report(name: str) -> Report:
    return REPORTS.setdefault(name, Report())


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(scale="small", latency="zero", options={"stripe_rate_limit": 100000}) as sb:
        sb.state.provider_store("klaviyo")["rate_scale"] = 1000.0
        yield sb


def stripe_overlay(version: str) -> Any:
    return None if version == versions.SPEC else versions.spec_overlay


# --- Stripe ------------------------------------------------------------------------------------------------------------

STRIPE_LISTS = sorted(f"/v1/{k.path}" for k in objects.KINDS.values() if k.path) + ["/v1/events", "/v1/invoices/{invoice}/lines", "/v1/charges/{charge}/refunds", "/v1/credit_notes", "/v1/tax_rates", "/v1/customers/{customer}/payment_methods", "/v1/customers/{customer}/balance_transactions"]
STRIPE_RETRIEVES = sorted(
    t for t in STRIPE_SPEC().paths if "get" in STRIPE_SPEC().paths[t] and t.count("{") == 1 and t.endswith("}") and t.split("/")[2] in {k.path for k in objects.KINDS.values() if k.path} | {"events"}
) + ["/v1/account", "/v1/balance"]


def _stripe_ids(server: SandboxServer) -> dict[str, list[str]]:
    sw = server.world.extension("stripe")
    out: dict[str, list[str]] = {}
    for kind in objects.KINDS.values():
        ids = [oid for oid, obj in kind.source(sw).items() if objects.lookup(sw, kind.name, oid, sw.now) is not None]
        out[kind.path] = sorted(ids)[:5]
    out["events"] = [e.id for e in sw.events if sw.now - 30 * 86400 <= e.created <= sw.now][-5:]
    return out


@pytest.fixture(scope="module")
def stripe_ids(server: SandboxServer) -> dict[str, list[str]]:
    """Once per module: the world does not move here, and walking it costs more than a request."""
    return _stripe_ids(server)


def _stripe_overrides(spec: OpenAPISpec, template: str, version: versions.Version) -> dict[str, Any]:
    op = spec.operation("get", template)
    root = objects._targets(spec, op.success_schema)
    fields: list[str] = []
    for schema in root:
        props = schema.get("properties") or {}
        if "data" in props:
            for item in objects._targets(spec, props["data"]):
                name = objects._schema_name(spec, item)
                fields += [f"data.{f}" for f in sorted(objects.expandable(spec, name, version))] if name else []
        else:
            name = objects._schema_name(spec, schema)
            fields += sorted(objects.expandable(spec, name, version)) if name else []
    return {
        "limit": st.integers(1, 100),
        "expand": st.lists(st.sampled_from(fields), max_size=2, unique=True) if fields else st.just([]),
        "starting_after": st.just("sandbox_missing"),
        "ending_before": st.just("sandbox_missing"),
    }


def _fill(template: str, ids: dict[str, list[str]], draw: Any) -> str:
    parts = template.split("/")
    out = []
    for i, part in enumerate(parts):
        if part.startswith("{"):
            pool = ids.get(parts[i - 1], [])
            out.append(draw(st.sampled_from([*pool, f"{parts[i - 1][:3]}_sandboxmissing"])))
        else:
            out.append(part)
    return "/".join(out)


@pytest.mark.parametrize("version", [versions.CURRENT, versions.SPEC])
@pytest.mark.parametrize("template", STRIPE_LISTS + STRIPE_RETRIEVES)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_stripe_generated_requests_conform(server: SandboxServer, stripe_ids: dict[str, list[str]], template: str, version: str, data: Any) -> None:
    spec = STRIPE_SPEC()
    resolved = versions.resolve(version)
    op = spec.operation("get", template)
    path = _fill(template, stripe_ids, data.draw)
    query = data.draw(query_strategy(op, overrides=_stripe_overrides(spec, template, resolved)))
    response = http().get(f"{server.url}/stripe{path}", params=query, headers={**STRIPE_HEADERS, "Stripe-Version": version}, timeout=60)
    exchange = Exchange("GET", path, query, response.status_code, dict(response.headers), response.json())
    problems = check_exchange(spec, exchange, stripe_overlay(version))
    report(f"stripe@{version}").add(op.operation_id, problems)
    assert response.status_code < 500 and not problems, (path, query, problems)


def test_every_invoice_at_the_specs_version_conforms(server: SandboxServer) -> None:
    """Every invoice, with its lines, walked whole at the spec's own version (generated requests sample a few): a
    one-off line once carried `subscription_item: null`, a field the spec makes neither nullable nor required."""
    spec, path, query = STRIPE_SPEC(), "/v1/invoices", {"limit": 100}
    seen = 0
    while True:
        response = http().get(f"{server.url}/stripe{path}", params=query, headers={**STRIPE_HEADERS, "Stripe-Version": versions.SPEC}, timeout=60)
        body = response.json()
        problems = check_exchange(spec, Exchange("GET", path, query, response.status_code, dict(response.headers), body))
        assert response.status_code == 200 and not problems, problems
        seen += len(body["data"])
        if not body["has_more"]:
            break
        query = {"limit": 100, "starting_after": body["data"][-1]["id"]}
    one_off = [i for i in server.world.extension("stripe").invoices.values() if not i.subscription]
    assert seen > 0 and one_off, "the world must have invoices, some of them one-off"


@pytest.mark.parametrize("template", STRIPE_LISTS)
def test_stripe_rejects_what_the_spec_does_not_allow(server: SandboxServer, stripe_ids: dict[str, list[str]], template: str) -> None:
    spec = STRIPE_SPEC()
    op = spec.operation("get", template)
    path = _fill_real(template, stripe_ids)
    for what, query in mutations(op):
        response = http().get(f"{server.url}/stripe{path}", params=query, headers=STRIPE_HEADERS, timeout=30)
        body = response.json()
        problems = check_exchange(spec, Exchange("GET", path, query, response.status_code, dict(response.headers), body))
        report("stripe: invalid requests").add(op.operation_id, problems + ([] if response.status_code == 400 else [f"{what}: {response.status_code}"]))
        assert response.status_code == 400, (what, query, body)
        assert body["error"]["type"] == "invalid_request_error" and body["error"].get("param"), (what, body)
        assert not problems, (what, problems)


def _fill_real(template: str, ids: dict[str, list[str]]) -> str:
    """The template with real ids (mutation tests need an existing parent)."""
    parts = template.split("/")
    return "/".join(ids[parts[i - 1]][0] if p.startswith("{") else p for i, p in enumerate(parts))


# --- Klaviyo -----------------------------------------------------------------------------------------------------------

KLAVIYO_SERVED = [
    "/api/accounts", "/api/campaigns", "/api/events", "/api/flows", "/api/lists", "/api/metrics", "/api/profiles",
    "/api/segments", "/api/tags", "/api/templates", "/api/coupons", "/api/catalog-items",
    "/api/campaigns/{id}", "/api/campaigns/{id}/campaign-messages", "/api/campaign-messages/{id}",
    "/api/campaign-recipient-estimations/{id}", "/api/events/{id}", "/api/flows/{id}", "/api/flows/{id}/flow-actions",
    "/api/flow-actions/{id}", "/api/flow-actions/{id}/flow-messages", "/api/flow-messages/{id}", "/api/lists/{id}",
    "/api/lists/{id}/profiles", "/api/metrics/{id}", "/api/profiles/{id}", "/api/profiles/{id}/lists",
    "/api/profiles/{id}/segments", "/api/segments/{id}", "/api/segments/{id}/profiles", "/api/templates/{id}",
]


def _klaviyo_ids(server: SandboxServer) -> dict[str, list[str]]:
    kw = server.world.extension("klaviyo")
    now = server.world.now
    campaigns = [c for c in kw.campaigns if c.created_at <= now][:3]
    return {
        "campaigns": [c.id for c in campaigns],
        "campaign-messages": [c.message.id for c in campaigns],
        "campaign-recipient-estimations": [c.id for c in campaigns],
        "events": [e.id for e in kw.events[:3]],
        "flows": [f.id for f in kw.flows],
        "flow-actions": [a.id for f in kw.flows for a in f.actions][:3],
        "flow-messages": [a.message.id for f in kw.flows for a in f.actions][:3],
        "lists": [g.id for g in kw.groups if g.kind == "list"],
        "segments": [g.id for g in kw.groups if g.kind == "segment"],
        "metrics": [m.id for m in kw.metrics][:3],
        "profiles": [p.id for p in kw.profiles[:3]],
        "templates": [],
    }


@pytest.fixture(scope="module")
def klaviyo_ids(server: SandboxServer) -> dict[str, list[str]]:
    return _klaviyo_ids(server)


def _klaviyo_overrides(op: Any) -> dict[str, Any]:
    size = op.query_schema("page[size]") or {}
    out: dict[str, Any] = {"page[cursor]": st.just("sandbox-bad-cursor")}
    if size:
        out["page[size]"] = st.integers(int(size.get("minimum", 1)), int(size.get("maximum", 100)))
    if op.template == "/api/campaigns":
        out["filter"] = st.sampled_from(["equals(messages.channel,'email')", "and(equals(messages.channel,'email'),greater-than(updated_at,2026-01-01T00:00:00Z))"])
    else:
        out["filter"] = st.just("")
    return out


@pytest.mark.parametrize("template", KLAVIYO_SERVED)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_klaviyo_generated_requests_conform(server: SandboxServer, klaviyo_ids: dict[str, list[str]], template: str, data: Any) -> None:
    spec = KLAVIYO_SPEC()
    op = spec.operation("get", template)
    path = _fill(template, klaviyo_ids, data.draw)
    query = [q for q in data.draw(query_strategy(op, overrides=_klaviyo_overrides(op))) if q != ("filter", "")]
    if template == "/api/campaigns" and not any(k == "filter" for k, _ in query):
        query.append(("filter", "equals(messages.channel,'email')"))
    response = http().get(f"{server.url}/klaviyo{path}", params=query, headers=KLAVIYO_HEADERS, timeout=60)
    exchange = Exchange("GET", path, query, response.status_code, dict(response.headers), response.json())
    problems = check_exchange(spec, exchange, jsonapi_overlay(query))
    report("klaviyo@2026-07-15").add(op.operation_id, problems)
    assert response.status_code < 500 and not problems, (path, query, problems)


@pytest.mark.parametrize("template", [t for t in KLAVIYO_SERVED if "{" not in t])
def test_klaviyo_rejects_what_the_spec_does_not_allow(server: SandboxServer, template: str) -> None:
    spec = KLAVIYO_SPEC()
    op = spec.operation("get", template)
    for what, query in mutations(op):
        if template == "/api/campaigns":
            query = [*query, ("filter", "equals(messages.channel,'email')")]
        response = http().get(f"{server.url}/klaviyo{template}", params=query, headers=KLAVIYO_HEADERS, timeout=30)
        body = response.json()
        problems = check_exchange(spec, Exchange("GET", template, query, response.status_code, dict(response.headers), body))
        report("klaviyo: invalid requests").add(op.operation_id, problems + ([] if response.status_code == 400 else [f"{what}: {response.status_code}"]))
        assert response.status_code == 400, (what, query, body)
        assert body["errors"][0]["source"].get("parameter"), (what, body)
        assert response.headers["content-type"].startswith("application/vnd.api+json")
        assert not problems, (what, problems)


# --- unknown routes answer in the provider's shape ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "method", "path", "headers", "shape"),
    [
        ("stripe", "GET", "/v1/nothing_here", STRIPE_HEADERS, "error"),
        ("stripe", "GET", "/v1/charges/ch_1/nested/deeper", STRIPE_HEADERS, "error"),
        ("stripe", "DELETE", "/v1/charges", STRIPE_HEADERS, "error"),
        ("klaviyo", "GET", "/api/nothing-here", KLAVIYO_HEADERS, "errors"),
        ("klaviyo", "DELETE", "/api/profiles", KLAVIYO_HEADERS, "errors"),
        ("shopify", "GET", "/admin/nothing", {}, "errors"),
    ],
)
def test_unknown_paths_and_methods_answer_in_the_providers_shape(server: SandboxServer, provider: str, method: str, path: str, headers: dict[str, str], shape: str) -> None:
    response = http().request(method, f"{server.url}/{provider}{path}", headers=headers, timeout=30)
    assert response.status_code in (404, 405)
    body = response.json()
    assert shape in body and "detail" not in body
    if provider == "stripe":
        assert body["error"]["type"] == "invalid_request_error" and "Unrecognized request URL" in body["error"]["message"]


# --- the project's own pipelines, recorded -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["stripe", "klaviyo"])
def test_pipeline_traffic_conforms(provider: str, warehouse: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.run import run_provider
    from tests.conftest import point_at_sandbox

    monkeypatch.setenv("STRIPE_RATE_LIMIT_PER_SECOND", "1000")
    monkeypatch.setenv("KLAVIYO_RATE_LIMIT_SCALE", "20")
    monkeypatch.setenv("OPSDATA_FAST_RETRIES", "1")
    with SandboxServer(scale="small", latency="zero", options={"record_traffic": True, "stripe_rate_limit": 1000}) as sb:
        sb.state.provider_store("klaviyo")["rate_scale"] = 20.0
        point_at_sandbox(monkeypatch, sb.url)
        run_provider(provider)
        traffic = [r for r in sb.state.store["traffic"] if r["provider"] == provider]
    spec = STRIPE_SPEC() if provider == "stripe" else KLAVIYO_SPEC()
    overlay: Any = versions.spec_overlay if provider == "stripe" else None
    assert traffic, "the pipeline made no request"
    failures = []
    for record in traffic:
        exchange = Exchange.from_record(record)
        if exchange.path.startswith("/oauth"):
            continue
        op = spec.match(exchange.method, exchange.path)
        request_problems = [v.message for v in op.check(exchange.query)]
        problems = request_problems + check_exchange(spec, exchange, overlay or jsonapi_overlay(exchange.query))
        report(f"{provider}: pipeline traffic").add(operation_name(spec, exchange), problems)
        if problems:
            failures.append((exchange.path, exchange.query, problems))
    assert not failures, failures[:3]


def test_zz_conformance_tally() -> None:
    """Print what the suite measured (run with -s); every tally must be complete."""
    assert REPORTS, "no conformance test ran before the tally"
    for name, rep in sorted(REPORTS.items()):
        print(f"\n== {name}: {rep.summary()}")
    for name, rep in REPORTS.items():
        assert sum(rep.conforming.values()) == sum(rep.total.values()), name
