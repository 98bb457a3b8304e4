"""Shopify tiles against values computed independently from the sandbox world (exact to the cent)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import duckdb
import pytest

from pipelines.common.storage import tiles_path
from pipelines.run import run_provider
from pipelines.transform import publish, run_dbt
from tests.conftest import point_at_sandbox
from tests.dbt.shopify.ground_truth import expected_sales_daily


def _cents(value: Decimal | None) -> int:
    return int((value or Decimal(0)) * 100)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The world advanced past the reference date, extracted and built once for the module's read-only tests."""
    from sandbox.server import SandboxServer

    data = tmp_path_factory.mktemp("shopify-dbt")
    with pytest.MonkeyPatch.context() as mp, SandboxServer(scale="small", latency="zero") as server:
        mp.setenv("OPSDATA_DATA_DIR", str(data))
        point_at_sandbox(mp, server.url)
        mp.setenv("OPSDATA_FAST_RETRIES", "1")
        server.world.advance(3)  # some refunds and fulfilments happen after the reference date
        run_provider("shopify")
        run_dbt("build", "--select", "+shopify_sales_daily", "+dim_customers", as_of_date=server.world.now.date().isoformat(),
                target_path=str(data / "target"))
        publish()
        yield server.world


MONEY = ("gross_sales", "discounts", "returns", "net_sales", "gift_card_sales", "shipping", "taxes", "orders_total",
         "refunds", "orders_total_less_refunds", "order_value")


def test_shopify_sales_daily_matches_the_world(built) -> None:  # type: ignore[no-untyped-def]
    world = built
    expected = expected_sales_daily(world)
    con = duckdb.connect(str(tiles_path()), read_only=True)
    cur = con.execute("select * from tiles.shopify_sales_daily where currency = 'USD'")
    cols = [d[0] for d in cur.description]
    actual = {r["order_date"]: r for r in (dict(zip(cols, row, strict=True)) for row in cur.fetchall())}
    con.close()
    assert max(actual) == world.now.date()
    assert sum(v["orders_count"] for v in expected.values()) == sum(r["orders_count"] for r in actual.values()) > 0
    assert sum(v["returns"] for v in expected.values()) > 0 and sum(v["gift_card_sales"] for v in expected.values()) > 0
    for day, exp in expected.items():
        row = actual[day]
        assert row["orders_count"] == exp["orders_count"], day
        assert {k: _cents(row[k]) for k in MONEY} == {k: exp[k] for k in MONEY}, day
        assert (row["new_customers"], row["returning_customers"]) == (exp["new_customers"], exp["returning_customers"]), day
        if exp["orders_count"]:
            assert row["average_order_value"] == (Decimal(exp["order_value"]) / exp["orders_count"] / 100).quantize(Decimal("0.01"), ROUND_HALF_UP), day
    quiet = [r for d, r in actual.items() if d not in expected]
    assert all(r["orders_count"] == 0 and _cents(r["net_sales"]) == 0 for r in quiet)


def test_dim_customers_matches_the_world(built) -> None:  # type: ignore[no-untyped-def]
    world = built
    now = world.now
    con = duckdb.connect(str(tiles_path()), read_only=True)
    rows = {r[0]: r for r in con.execute("select customer_id, email, orders_count, total_spent, accepts_marketing from marts.dim_customers").fetchall()}
    con.close()
    assert len(rows) == len(world.visible_customers())
    for c in world.visible_customers():
        orders = [o for o in world.orders_by_customer.get(c.id, []) if o.created_at <= now and not (o.cancelled_at and o.cancelled_at <= now)]
        row = rows[c.id]
        assert row[1] == c.email.lower()
        assert row[2] == len(orders)
        assert _cents(row[3]) == sum(o.total_cents - o.refunded_cents(now) for o in orders)
        assert row[4] == c.accepts_marketing
