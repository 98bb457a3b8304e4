"""Digest content against tiles built from the world's ground truth; sections skipped when absent; split within
Slack's limits; money per currency."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from notifications import blocks as bk
from notifications import jobs
from notifications.digest import Period, Section, build_digest, default_as_of
from notifications.tiles import TileReader
from pipelines.common.storage import tiles_path
from sandbox import slack
from sandbox.slack import validate_blocks
from tests.dbt.shopify.ground_truth import expected_sales_daily

AS_OF = date(2026, 10, 31)


def world_daily_sales(world: Any) -> dict[date, dict[str, Decimal]]:
    """Per UTC day, straight from the world's orders: what shopify_sales_daily must say (USD shop, Shopify's net sales)."""
    days: dict[date, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for day, values in expected_sales_daily(world).items():
        days[day]["orders_count"] = Decimal(values["orders_count"])
        for key in ("net_sales", "order_value", "orders_total", "refunds"):
            days[day][key] = Decimal(values[key]) / 100
    return days


def publish_shopify_tile(days: dict[date, dict[str, Decimal]]) -> None:
    with duckdb.connect(str(tiles_path())) as conn:
        conn.execute("create schema if not exists tiles")
        conn.execute(
            "create or replace table tiles.shopify_sales_daily (order_date date, currency varchar, orders_count integer, "
            "order_value decimal(18,2), orders_total decimal(18,2), refunds decimal(18,2), net_sales decimal(18,2), "
            "new_customers integer, returning_customers integer, average_order_value decimal(18,2))"
        )
        conn.executemany(
            "insert into tiles.shopify_sales_daily values (?, 'USD', ?, ?, ?, ?, ?, 0, 0, null)",
            [[d, int(v["orders_count"]), v.get("order_value", v.get("orders_total")), v["orders_total"], v["refunds"], v["net_sales"]]
             for d, v in sorted(days.items())],
        )


def window(days: dict[date, dict[str, Decimal]], end: date, n: int, key: str) -> Decimal:
    return sum((days[end - timedelta(days=i)][key] for i in range(n) if end - timedelta(days=i) in days), Decimal(0))


@pytest.mark.parametrize(("kind", "n"), [("daily", 1), ("weekly", 7)])
def test_digest_headlines_match_the_world(slack_env, warehouse, kind, n) -> None:  # type: ignore[no-untyped-def]
    days = world_daily_sales(slack_env.world)
    publish_shopify_tile(days)
    # the latest period (small world: few orders a day) where both it and the one before had sales
    as_of = max(d for d in days if window(days, d, n, "orders_count") and window(days, d - timedelta(days=n), n, "net_sales") > 0)
    assert as_of > AS_OF - timedelta(days=30)
    (posted,) = jobs.send_digest(kind, as_of=as_of)
    assert posted["status"] == "sent"
    (message,) = slack.messages(slack_env.state, "ops")
    net, prev_net = window(days, as_of, n, "net_sales"), window(days, as_of - timedelta(days=n), n, "net_sales")
    orders = window(days, as_of, n, "orders_count")
    pct = abs((net - prev_net) / prev_net * 100)
    arrow = "▲" if net > prev_net else "▼"
    text = message["text"]
    assert f"Net sales ${net:,.2f}  {arrow} {pct:.1f}%" in text
    assert f"Orders {int(orders)}" in text
    total = window(days, as_of, n, "order_value")
    assert f"Average order ${(total / orders).quantize(Decimal('0.01')):,.2f}" in text
    period = Period.for_kind(kind, as_of)
    assert message["blocks"][0]["text"]["text"] == f"{kind.capitalize()} digest · {period.label}"
    assert period.days == n and period.end == as_of
    assert validate_blocks(message["blocks"]) is None


def test_default_period_is_the_last_day_with_orders(slack_env, warehouse) -> None:  # type: ignore[no-untyped-def]
    days = world_daily_sales(slack_env.world)
    publish_shopify_tile(days)
    last = max(d for d, v in days.items() if v["orders_count"] > 0)
    assert default_as_of(TileReader(), today=date(2026, 11, 25)) == last
    assert default_as_of(TileReader(), today=last) == last - timedelta(days=1)


def test_pinned_as_of_date(warehouse, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    publish_shopify_tile({AS_OF: {"orders_count": Decimal(2), "orders_total": Decimal(10), "refunds": Decimal(0), "net_sales": Decimal(10)}})
    monkeypatch.setenv("OPSDATA_AS_OF_DATE", "2026-10-20")
    assert default_as_of(TileReader()) == date(2026, 10, 19)
    monkeypatch.setenv("OPSDATA_AS_OF_DATE", "2026-11-01")
    assert build_digest("daily").period.end == AS_OF


def test_unusual_drop_needs_attention(warehouse) -> None:  # type: ignore[no-untyped-def]
    days = {
        AS_OF - timedelta(days=1): {"orders_count": Decimal(20), "orders_total": Decimal(2000), "refunds": Decimal(0), "net_sales": Decimal(2000)},
        AS_OF: {"orders_count": Decimal(8), "orders_total": Decimal(800), "refunds": Decimal(200), "net_sales": Decimal(600)},
    }
    publish_shopify_tile(days)
    digest = build_digest("daily", AS_OF)
    text = digest.render_text()
    assert "Needs attention" in text
    assert "Shopify net sales fell 70% vs the previous day ($600.00 vs $2,000.00)" in text
    assert "Shopify orders fell 60%" in text
    assert "Shopify refunds were 25% of sales ($200.00)" in text


def test_sections_without_tiles_are_skipped(warehouse) -> None:  # type: ignore[no-untyped-def]
    digest = build_digest("daily", AS_OF)  # no published file at all
    assert digest.sections == []
    assert "No tiles are published yet" in digest.render_text()
    publish_shopify_tile({AS_OF: {"orders_count": Decimal(1), "orders_total": Decimal(10), "refunds": Decimal(0), "net_sales": Decimal(10)}})
    titles = [s.title for s in build_digest("daily", AS_OF).sections]
    assert titles == ["Shopify"]  # Stripe and Klaviyo tiles are absent: no section, no error


def test_oversized_digest_is_split_within_limits(slack_env, warehouse) -> None:  # type: ignore[no-untyped-def]
    def huge(reader: TileReader, period: Period) -> Section:
        lines = [f"Line {i}: " + "x" * 180 for i in range(400)]  # ~76 k characters: 26 sections' worth, 7 messages
        return Section("Huge", lines, attention=["a very long line " * 300])

    digest = build_digest("daily", AS_OF, builders=[("huge", huge)])
    messages = digest.messages("#ops")
    assert len(messages) > 1
    for n, message in enumerate(messages, start=1):
        assert len(message.blocks) <= 50
        assert validate_blocks(message.blocks) is None
        assert sum(len(bk.block_text(b)) for b in message.blocks) <= bk.MAX_MESSAGE_BLOCK_CHARS + 200
        assert message.blocks[0]["text"]["text"].endswith(f"(part {n}/{len(messages)})")
        assert len(message.text) <= bk.MAX_FALLBACK_TEXT
    from notifications.delivery import post_now

    store, settings = jobs.context()
    settings.min_interval = 0.0
    slack.set_min_interval(slack_env.state, 0.0)
    post_now(store, settings, messages)
    received = slack.messages(slack_env.state, "ops")
    assert len(received) == len(messages)  # every part accepted by Slack: nothing rejected
    body = "\n".join(bk.block_text(b) for m in received for b in m["blocks"])
    assert all(f"Line {i}: " in body for i in range(400))  # split, not dropped


def test_blocks_at_any_size_are_valid() -> None:
    for size in (0, 1, 2999, 3000, 3001, 9000):
        blocks = bk.sections("y" * size + "\n" + "z" * 10) + [bk.header("h" * 400), bk.context("c" * 5000)]
        assert validate_blocks(blocks) is None


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("1234.5"), "USD", "$1,234.50"),
        (Decimal("-12"), "USD", "-$12.00"),
        (Decimal("1234.56"), "EUR", "€1,234.56"),
        (Decimal("99.99"), "GBP", "£99.99"),
        (Decimal("1234.5"), "JPY", "¥1,235"),
        (Decimal("10"), "CAD", "CA$10.00"),
        (Decimal("1234.5"), "PLN", "1,234.50 PLN"),
        (None, "USD", "$0.00"),
    ],
)
def test_money_is_formatted_per_currency(amount, currency, expected) -> None:  # type: ignore[no-untyped-def]
    assert bk.money(amount, currency) == expected


def test_currencies_are_never_summed_together(warehouse) -> None:  # type: ignore[no-untyped-def]
    with duckdb.connect(str(tiles_path())) as conn:
        conn.execute("create schema tiles")
        conn.execute(
            "create table tiles.shopify_sales_daily as select * from (values "
            "(date '2026-10-31', 'USD', 2, 100.00, 0.00, 100.00), (date '2026-10-31', 'EUR', 1, 80.00, 0.00, 80.00)) "
            "as t(order_date, currency, orders_count, orders_total, refunds, net_sales)"
        )
    text = build_digest("daily", AS_OF).render_text()
    assert "Net sales $100.00" in text and "Net sales (EUR) €80.00" in text
    assert "$180.00" not in text


def test_change_wording() -> None:
    assert bk.change(110, 100) == "▲ 10.0%"
    assert bk.change(90, 100) == "▼ 10.0%"
    assert bk.change(0, 0) == "no change"
    assert bk.change(5, 0) == "up from 0"
    assert bk.change(None, 3) == "n/a"
