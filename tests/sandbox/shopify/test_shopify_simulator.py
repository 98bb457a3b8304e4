"""The Shopify simulator speaks the real API: schema-validated queries, cost accounting, throttling, auth."""

from __future__ import annotations

import requests

from pipelines.shopify import settings
from pipelines.shopify.source import CUSTOMERS_QUERY, ORDERS_QUERY
from sandbox.server import SandboxServer
from sandbox.shopify import SANDBOX_CREDENTIALS

TOKEN = {"X-Shopify-Access-Token": SANDBOX_CREDENTIALS["access_token"]}
ORDERS_VARS = {
    "first": settings.ORDERS_PAGE_SIZE,
    "lineItems": settings.LINE_ITEMS_PAGE_SIZE,
    "refunds": settings.REFUNDS_PER_ORDER,
    "refundLines": settings.REFUND_LINE_ITEMS_PAGE_SIZE,
}


def _post(server: SandboxServer, query: str, variables: dict | None = None, version: str = settings.API_VERSION, headers: dict | None = None) -> requests.Response:
    url = f"{server.url}/shopify/admin/api/{version}/graphql.json"
    return requests.post(url, json={"query": query, "variables": variables or {}}, headers=headers or TOKEN, timeout=10)


def test_client_queries_validate_and_stay_under_the_single_query_cost_limit(module_sandbox: SandboxServer) -> None:
    for query, variables in ((CUSTOMERS_QUERY, {"first": settings.CUSTOMERS_PAGE_SIZE}), (ORDERS_QUERY, ORDERS_VARS)):
        body = _post(module_sandbox, query, variables).json()
        assert "errors" not in body, body.get("errors")
        cost = body["extensions"]["cost"]
        assert cost["requestedQueryCost"] <= settings.MAX_QUERY_COST
        assert 0 < cost["actualQueryCost"] <= cost["requestedQueryCost"]
        assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}


def test_unknown_field_is_rejected_like_shopify(module_sandbox: SandboxServer) -> None:
    body = _post(module_sandbox, "{ customers(first: 1) { nodes { id favouriteColour } } }").json()
    assert body["errors"][0]["extensions"]["code"] == "undefinedField"
    assert "favouriteColour" in body["errors"][0]["message"]


def test_default_email_address_exists_only_from_2025_04() -> None:
    from graphql import parse, validate

    from sandbox.shopify.graphql_api import schema_for_version

    query = parse("{ customers(first: 1) { nodes { defaultEmailAddress { emailAddress } } } }")
    assert validate(schema_for_version("2025-01"), query)
    assert not validate(schema_for_version("2025-04"), query)


def test_versions_are_served_as_shopify_serves_them(module_sandbox: SandboxServer) -> None:
    """Twelve months of support, then fall forward to the oldest supported version; unreleased or malformed: 404.
    Every answer names the version served."""
    query, variables = CUSTOMERS_QUERY, {"first": 1}
    current = _post(module_sandbox, query, variables)
    assert current.status_code == 200 and current.headers["X-Shopify-API-Version"] == settings.API_VERSION
    old = _post(module_sandbox, query, variables, version="2024-04")  # long out of support at the world's date
    assert old.status_code == 200 and old.headers["X-Shopify-API-Version"] == "2026-01"
    assert "errors" not in old.json()
    for bad in ("2027-01", "2026-02", "latest"):
        response = _post(module_sandbox, query, variables, version=bad)
        assert response.status_code == 404 and response.json() == {"errors": "Not Found"}


def test_unknown_paths_and_methods_answer_in_shopifys_shape(module_sandbox: SandboxServer) -> None:
    assert requests.get(f"{module_sandbox.url}/shopify/admin/oauth/nothing", timeout=10).json() == {"errors": "Not Found"}
    response = requests.patch(f"{module_sandbox.url}/shopify/admin/api/{settings.API_VERSION}/graphql.json", headers=TOKEN, timeout=10)
    assert response.status_code == 405 and "errors" in response.json() and "detail" not in response.json()


def test_wrong_or_missing_token_gets_shopifys_401(module_sandbox: SandboxServer) -> None:
    for headers in ({"X-Shopify-Access-Token": "shpat_wrong"}, {}):
        response = _post(module_sandbox, CUSTOMERS_QUERY, {"first": 1}, headers=headers or {"Content-Type": "application/json"})
        assert response.status_code == 401
        assert response.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


def test_over_cost_query_gets_max_cost_exceeded(module_sandbox: SandboxServer) -> None:
    body = _post(module_sandbox, ORDERS_QUERY, {**ORDERS_VARS, "first": 250}).json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


def test_throttled_in_the_body_when_the_bucket_is_empty() -> None:
    with SandboxServer(options={"shopify_plan": "standard", "shopify_bucket_seconds": 9}) as server:  # 900 points
        first = _post(server, CUSTOMERS_QUERY, {"first": settings.CUSTOMERS_PAGE_SIZE}).json()  # requests 802
        assert "errors" not in first
        second = _post(server, CUSTOMERS_QUERY, {"first": settings.CUSTOMERS_PAGE_SIZE})
        body = second.json()
        assert second.status_code == 200
        assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert body["extensions"]["cost"]["actualQueryCost"] is None
        assert body["extensions"]["cost"]["throttleStatus"]["restoreRate"] == 100.0


def test_pagination_walks_every_customer_exactly_once(module_sandbox: SandboxServer) -> None:
    seen: list[str] = []
    after = None
    while True:
        body = _post(module_sandbox, CUSTOMERS_QUERY, {"first": 13, "after": after}).json()
        conn = body["data"]["customers"]
        seen += [n["id"] for n in conn["nodes"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    expected = {f"gid://shopify/Customer/{c.id}" for c in module_sandbox.world.visible_customers()}
    assert len(seen) == len(set(seen)) == len(expected)
    assert set(seen) == expected


def test_updated_at_filter_and_advance_reveal_only_changes() -> None:
    with SandboxServer() as server:
        world = server.world
        before = world.now
        world.advance(5)
        query = "query($q: String) { orders(first: 250, sortKey: UPDATED_AT, query: $q) { nodes { id updatedAt } } }"
        since = before.strftime("%Y-%m-%dT%H:%M:%SZ")
        nodes = _post(server, query, {"q": f"updated_at:>'{since}'"}).json()["data"]["orders"]["nodes"]
        expected = {o.id for o in world.visible_orders() if o.updated_at(world.now) > before}
        assert expected, "the world should change within five days"
        assert {int(n["id"].rsplit("/", 1)[1]) for n in nodes} == expected
        assert all(n["updatedAt"] > since for n in nodes)
