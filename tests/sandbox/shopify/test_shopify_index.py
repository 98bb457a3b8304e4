"""The simulator's indexed connections (records ordered once per `now`, searched by bisection) give exactly what a
straightforward filter and sort of the world gives, over every cursor page, forwards and in reverse, for searches the
order answers and for ones it leaves to a scan, and again after the world moves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import requests

from pipelines.shopify import settings
from sandbox.server import SandboxServer
from sandbox.shopify import SANDBOX_CREDENTIALS

TOKEN = {"X-Shopify-Access-Token": SANDBOX_CREDENTIALS["access_token"]}
QUERY = """
query Page($first: Int!, $after: String, $query: String, $sortKey: %s, $reverse: Boolean) {
  %s(first: $first, after: $after, query: $query, sortKey: $sortKey, reverse: $reverse) {
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def all_ids(server: SandboxServer, connection: str, page: int, **variables: Any) -> list[int]:
    sort_type = "CustomerSortKeys" if connection == "customers" else "OrderSortKeys"
    url = f"{server.url}/shopify/admin/api/{settings.API_VERSION}/graphql.json"
    ids: list[int] = []
    after = None
    while True:
        body = requests.post(url, json={"query": QUERY % (sort_type, connection), "variables": {**variables, "first": page, "after": after}},
                             headers=TOKEN, timeout=30).json()
        assert "errors" not in body, body["errors"]
        conn = body["data"][connection]
        ids += [int(n["id"].rsplit("/", 1)[1]) for n in conn["nodes"]]
        assert conn["pageInfo"]["hasPreviousPage"] == (after is not None)
        if not conn["pageInfo"]["hasNextPage"]:
            return ids
        after = conn["pageInfo"]["endCursor"]


def expected(server: SandboxServer, connection: str, sort: str, keep: Any = lambda r: True, reverse: bool = False) -> list[int]:
    world = server.state.world
    now = world.now
    if connection == "customers":
        records = [{"id": c.id, "updated_at": world.customer_updated_at(c), "created_at": c.created_at, "email": c.email.lower()}
                   for c in world.customers if c.created_at <= now]
    else:
        records = [{"id": o.id, "updated_at": o.updated_at(now), "created_at": o.created_at, "email": o.email.lower()}
                   for o in world.orders if o.created_at <= now]
    rows = sorted(((ts(r[sort]) if sort != "id" else r["id"], r["id"]) for r in records if keep(r)), reverse=reverse)
    return [ident for _, ident in rows]


def check_connections(sandbox: SandboxServer) -> None:
    since = sandbox.state.world.now - timedelta(days=60)
    until = sandbox.state.world.now - timedelta(days=20)
    email = sandbox.state.world.customers[3].email
    cases = [
        ("customers", 13, {"sortKey": "UPDATED_AT", "query": f"updated_at:>='{ts(since)}'"}, "updated_at", lambda r: r["updated_at"] >= since, False),
        ("orders", 8, {"sortKey": "UPDATED_AT", "query": f"updated_at:>='{ts(since)}' AND updated_at:<'{ts(until)}'"}, "updated_at",
         lambda r: since <= r["updated_at"] < until, False),
        ("orders", 9, {"sortKey": "UPDATED_AT", "reverse": True, "query": f"updated_at:>'{ts(since)}'"}, "updated_at",
         lambda r: r["updated_at"] > since, True),
        ("orders", 25, {"sortKey": "ID"}, "id", lambda r: True, False),
        ("orders", 6, {"sortKey": "CREATED_AT", "reverse": True}, "created_at", lambda r: True, True),
        # searched on another field than the sort: a scan of the order
        ("orders", 4, {"sortKey": "ID", "query": f"updated_at:<='{ts(until)}'"}, "id", lambda r: r["updated_at"] <= until, False),
        ("orders", 2, {"sortKey": "UPDATED_AT", "query": f"email:{email}"}, "updated_at", lambda r: r["email"] == email.lower(), False),
    ]
    for connection, page, variables, sort, keep, reverse in cases:
        want = expected(sandbox, connection, sort, keep, reverse)
        assert want, f"{connection} {variables} should find records in the small world"
        assert all_ids(sandbox, connection, page, **variables) == want, (connection, variables)


def test_connections_equal_a_straightforward_filter_before_and_after_an_advance(sandbox: SandboxServer) -> None:
    check_connections(sandbox)
    before = expected(sandbox, "orders", "updated_at")
    sandbox.state.world.advance(25)
    assert expected(sandbox, "orders", "updated_at") != before, "the advance should add and change orders"
    check_connections(sandbox)
