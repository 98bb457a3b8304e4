"""Shopify tiles against values computed independently from the sandbox world (exact to the cent)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import duckdb
import pytest

from pipelines.common.storage import tiles_path
from pipelines.run import run_provider
from pipelines.transform import publish, run_dbt
from sandbox.server import SandboxServer


def _cents(value: Decimal | None) -> int:
    return int((value or Decimal(0)) * 100)


@pytest.fixture
def built(sandbox_env: SandboxServer, tmp_path):  # type: ignore[no-untyped-def]
    sandbox_env.world.advance(3)  # some refunds and fulfilments happen after the reference date
    run_provider("shopify")
    run_dbt("build", "--select", "+shopify_sales_daily", "+dim_customers", as_of_date=sandbox_env.world.now.date().isoformat(), target_path=str(tmp_path / "target"))
    publish()
    return sandbox_env.world


def test_shopify_sales_daily_matches_the_world(built) -> None:  # type: ignore[no-untyped-def]
    world = built
    now = world.now
    expected: dict = defaultdict(lambda: defaultdict(int))
    valid = [o for o in world.visible_orders() if not (o.cancelled_at and o.cancelled_at <= now)]
    first_order: dict[int, object] = {}
    for o in sorted(valid, key=lambda o: o.created_at):
        first_order.setdefault(o.customer_id, o.created_at)
    for o in valid:
        day = expected[o.created_at.date()]
        day["orders_count"] += 1
        day["gross_sales"] += sum(li.quantity * li.unit_price_cents for li in o.line_items)
        day["discounts"] += o.discount_cents
        day["shipping"] += o.shipping_cents
        day["taxes"] += o.tax_cents
        day["total_sales"] += o.total_cents
        day["new_customers"] += int(first_order[o.customer_id] == o.created_at)
    for o in world.visible_orders():
        for r in o.refunds_as_of(now):
            expected[r.created_at.date()]["refunds"] += r.amount_cents

    con = duckdb.connect(str(tiles_path()), read_only=True)
    rows = con.execute(
        "select order_date, orders_count, gross_sales, discounts, shipping, taxes, total_sales, refunds, net_sales, new_customers "
        "from tiles.shopify_sales_daily where currency = 'USD'"
    ).fetchall()
    con.close()
    actual = {r[0]: r for r in rows}
    assert max(actual) == now.date()
    assert sum(v["orders_count"] for v in expected.values()) == sum(r[1] for r in rows) > 0
    for day, exp in expected.items():
        row = actual[day]
        assert row[1] == exp["orders_count"], day
        assert [_cents(v) for v in row[2:8]] == [exp[k] for k in ("gross_sales", "discounts", "shipping", "taxes", "total_sales", "refunds")], day
        assert _cents(row[8]) == exp["total_sales"] - exp["refunds"], day
        assert row[9] == exp["new_customers"], day
    quiet = [r for d, r in actual.items() if d not in expected]
    assert all(r[1] == 0 and _cents(r[8]) == 0 for r in quiet)


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
