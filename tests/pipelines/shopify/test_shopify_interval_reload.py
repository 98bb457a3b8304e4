"""A backfill reloads exactly its data interval: the records updated in `[start, end)`, and leaves the cursor alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import pytest

from pipelines.common.storage import raw_db_path
from pipelines.run import make_pipeline, run_provider
from pipelines.shopify import settings
from sandbox.server import SandboxServer
from tests.helpers import raw_count, raw_query


def _cursors() -> dict[str, Any]:
    pipeline = make_pipeline("shopify")
    pipeline.sync_destination()
    resources = pipeline.state["sources"]["shopify"]["resources"]
    return {name: resources[name]["incremental"]["updatedAt"]["last_value"] for name in ("customers", "orders")}


def _delete_updated_between(table: str, start: datetime, end: datetime) -> int:
    con = duckdb.connect(str(raw_db_path("shopify")))
    try:
        where = "updated_at >= ? and updated_at < ?"
        deleted = con.execute(f"select count(*) from raw_shopify.{table} where {where}", [start, end]).fetchone()[0]
        con.execute(f"delete from raw_shopify.{table} where {where}", [start, end])
        return int(deleted)
    finally:
        con.close()


def test_backfill_reloads_exactly_the_interval_and_keeps_the_cursor(
    sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = sandbox_env.world
    run_provider("shopify")
    cursors = _cursors()
    start = (world.now - timedelta(days=60)).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=30)
    # Ground truth from the world, not from the pipeline.
    in_window_orders = {o.id for o in world.visible_orders() if start <= o.updated_at(world.now) < end}
    in_window_customers = {c.id for c in world.visible_customers() if start <= world.customer_updated_at(c) < end}
    assert len(in_window_orders) > 2 and len(in_window_customers) > 3  # several pages each
    # Lose the window's rows, as a bad manual fix or a lost partition would.
    assert _delete_updated_between("orders", start, end) == len(in_window_orders)
    assert _delete_updated_between("customers", start, end) == len(in_window_customers)

    page_sizes = settings.CUSTOMERS_PAGE_SIZE, settings.ORDERS_PAGE_SIZE
    monkeypatch.setattr(settings, "CUSTOMERS_PAGE_SIZE", 3)
    monkeypatch.setattr(settings, "ORDERS_PAGE_SIZE", 2)
    summary = run_provider("shopify", interval_start=start.isoformat(), interval_end=end.isoformat())

    assert summary.rows_extracted["orders"] == len(in_window_orders)
    assert summary.rows_extracted["customers"] == len(in_window_customers)
    # The window is bounded in the query itself: only its pages are read, not everything after its start.
    assert summary.requests == -(-len(in_window_customers) // 3) + -(-len(in_window_orders) // 2)
    assert raw_count("shopify", "orders") == len(world.visible_orders())
    assert raw_count("shopify", "customers") == len(world.visible_customers())
    reloaded = {r[0] for r in raw_query("shopify", "select legacy_id from raw_shopify.orders")}
    assert in_window_orders <= reloaded
    assert _cursors() == cursors  # the saved cursor did not move
    # The next scheduled run behaves as if the backfill had not happened: nothing new, one empty page each.
    monkeypatch.setattr(settings, "CUSTOMERS_PAGE_SIZE", page_sizes[0])
    monkeypatch.setattr(settings, "ORDERS_PAGE_SIZE", page_sizes[1])
    after = run_provider("shopify")
    assert after.total_rows == 0 and after.requests == 2


def test_reload_is_idempotent(sandbox_env: SandboxServer) -> None:
    world = sandbox_env.world
    run_provider("shopify")
    start = world.now - timedelta(days=20)
    options = {"interval_start": start.isoformat(), "interval_end": (start + timedelta(days=5)).isoformat()}
    tables = ("customers", "orders", "orders__line_items", "orders__refunds")
    counts = {t: raw_count("shopify", t) for t in tables}
    first = run_provider("shopify", **options)
    second = run_provider("shopify", **options)
    assert first.total_rows == second.total_rows > 0
    assert {t: raw_count("shopify", t) for t in tables} == counts


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-10-05T00:00:00+00:00", "2026-10-05T00:00:00+00:00", "inverted"),
        ("2026-10-06T00:00:00+00:00", "2026-10-05T00:00:00+00:00", "inverted"),
        ("yesterday", "2026-10-05T00:00:00+00:00", "ISO 8601"),
        ("2026-10-04T00:00:00", "2026-10-05T00:00:00+00:00", "time zone"),
    ],
)
def test_bad_interval_fails_before_any_request(sandbox_env: SandboxServer, start: str, end: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_provider("shopify", interval_start=start, interval_end=end)
    assert sandbox_env.state.stats["shopify"].requests == 0
