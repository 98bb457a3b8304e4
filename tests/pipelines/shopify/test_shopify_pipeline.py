"""The Shopify pipeline against the sandbox: completeness, incremental cost, cost throttling. Failure paths (429, 5xx,
timeouts, malformed pages, drift, credentials, crashes, privacy) are the shared suite's: tests/failures/."""

from __future__ import annotations

import pytest

from pipelines.run import run_provider
from pipelines.shopify import settings
from sandbox.server import SandboxServer
from tests.conftest import point_at_sandbox
from tests.helpers import raw_count, raw_query


def _expected_counts(server: SandboxServer) -> tuple[int, int]:
    return len(server.world.visible_customers()), len(server.world.visible_orders())


def test_full_load_pages_to_the_last_page(sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "CUSTOMERS_PAGE_SIZE", 7)
    monkeypatch.setattr(settings, "ORDERS_PAGE_SIZE", 4)
    customers, orders = _expected_counts(sandbox_env)
    summary = run_provider("shopify")
    assert raw_count("shopify", "customers") == customers
    assert raw_count("shopify", "orders") == orders
    line_items = sum(len(o.line_items) for o in sandbox_env.world.visible_orders())
    assert raw_count("shopify", "orders__line_items") == line_items
    # one request per page, nothing more: ceil(n / page) for each resource
    assert summary.requests == -(-customers // 7) + -(-orders // 4)


def test_incremental_run_loads_only_new_and_changed_records(sandbox_env: SandboxServer) -> None:
    world = sandbox_env.world
    run_provider("shopify")
    before = world.now
    world.advance(7)
    changed_orders = [o for o in world.visible_orders() if o.updated_at(world.now) > before]
    changed_customers = [c for c in world.visible_customers() if world.customer_updated_at(c) > before]
    assert changed_orders and changed_customers
    summary = run_provider("shopify")
    # The cursor is inclusive (>=) so records stamped exactly at the cursor are re-read and deduplicated by dlt.
    assert summary.rows_extracted["orders"] == len(changed_orders)
    assert summary.rows_extracted["customers"] == len(changed_customers)
    assert raw_count("shopify", "orders") == len(world.visible_orders())
    assert raw_count("shopify", "customers") == len(world.visible_customers())
    refunded = raw_query("shopify", "select count(*) from raw_shopify.orders where display_financial_status like '%REFUNDED'")[0][0]
    assert refunded == sum(1 for o in world.visible_orders() if "REFUNDED" in o.financial_status(world.now))


def test_cost_throttling_waits_instead_of_failing(warehouse, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # Standard plan (100 points/s) with a 200-point bucket; pages of 30 customers request 2 + 30 x 4 = 122 points,
    # so after the first page the client must wait for the bucket, reading the throttleStatus Shopify returns.
    monkeypatch.setattr(settings, "CUSTOMERS_PAGE_SIZE", 30)
    with SandboxServer(options={"shopify_plan": "standard", "shopify_bucket_seconds": 2}) as server:
        point_at_sandbox(monkeypatch, server.url)
        run_provider("shopify", resources=["customers"])
        assert raw_count("shopify", "customers") == len(server.world.visible_customers())
        assert server.state.stats["shopify"].throttled == 0
        assert server.state.stats["shopify"].requests == -(-len(server.world.visible_customers()) // 30)
