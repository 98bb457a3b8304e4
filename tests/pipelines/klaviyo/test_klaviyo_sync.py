"""Shopify -> Klaviyo profile sync: sends each customer once, then only changes; bad rows reported; consent untouched."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import duckdb
import httpx
import pytest

from pipelines.common.storage import STORAGE_COMPATIBILITY_VERSION, tiles_path
from pipelines.klaviyo import settings, sync
from sandbox.klaviyo import SANDBOX_CREDENTIALS
from tests.helpers import raw_query

AS_OF = date(2026, 11, 1)


def write_dim_customers(world: Any, edits: dict[int, dict[str, Any]] | None = None, extra: list[dict[str, Any]] | None = None) -> int:
    """Stand-in for the lead's marts.dim_customers in the published tiles.duckdb, built from the world."""
    rows = []
    for c in world.visible_customers():
        orders = [o for o in world.orders_by_customer.get(c.id, []) if o.created_at <= world.now and o.cancelled_at is None]
        row = {
            "customer_id": c.id, "email": c.email, "first_name": c.first_name, "last_name": c.last_name, "phone": c.phone,
            "city": c.city, "province": c.province, "country_code": c.country_code, "accepts_marketing": c.accepts_marketing,
            "created_at": c.created_at, "updated_at": world.customer_updated_at(c), "orders_count": len(orders),
            "total_spent": sum(o.total_cents - o.refunded_cents(world.now) for o in orders) / 100,
            "first_order_at": min((o.created_at for o in orders), default=None), "last_order_at": max((o.created_at for o in orders), default=None),
        }
        row.update((edits or {}).get(c.id, {}))
        rows.append(row)
    rows += extra or []
    path = tiles_path()
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY_VERSION})
    con.execute("create schema marts")
    con.execute(
        "create table marts.dim_customers (customer_id bigint, email varchar, first_name varchar, last_name varchar, phone varchar, "
        "city varchar, province varchar, country_code varchar, accepts_marketing boolean, created_at timestamptz, updated_at timestamptz, "
        "orders_count integer, total_spent decimal(18,2), first_order_at timestamptz, last_order_at timestamptz)"
    )
    cols = list(rows[0].keys())
    con.executemany(f"insert into marts.dim_customers ({', '.join(cols)}) values ({', '.join('?' for _ in cols)})", [[r[k] for k in cols] for r in rows])
    con.close()
    return len(rows)


def consent_snapshot(server: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Klaviyo-API-Key {SANDBOX_CREDENTIALS['api_key']}", "revision": settings.REVISION}
    url: str | None = f"{server.url}/klaviyo/api/profiles?additional-fields[profile]=subscriptions&page[size]=100"
    found = {}
    while url:
        body = httpx.get(url, headers=headers, timeout=60).json()  # the first page builds the world: slow on a busy machine
        for p in body["data"]:
            found[p["attributes"]["email"]] = p["attributes"]["subscriptions"]
        url = body["links"].get("next")
    return found


def server_stats(server: Any) -> Any:
    return server.state.stats["klaviyo"].extra


def test_first_sync_sends_everyone_once_and_second_sends_nothing(klaviyo_env: Any) -> None:
    n = write_dim_customers(klaviyo_env.world)
    consent_before = consent_snapshot(klaviyo_env)
    first = sync.run_sync(as_of=AS_OF, sleep=lambda s: None)
    assert (first.sent, first.failed, first.unchanged) == (n, 0, 0)
    assert server_stats(klaviyo_env)["import_rows"] == n
    assert len(first.jobs) == -(-n // settings.SYNC_BATCH_SIZE)
    second = sync.run_sync(as_of=AS_OF, sleep=lambda s: None)
    assert (second.sent, second.unchanged) == (0, n)
    assert server_stats(klaviyo_env)["import_rows"] == n  # nothing re-sent
    # Computed properties arrived; consent did not change for anyone.
    profiles = raw_query("klaviyo", "select count(*), count(distinct payload_hash) from raw_klaviyo.profile_sync_log where status = 'synced'")[0]
    assert profiles == (n, n)
    after = consent_snapshot(klaviyo_env)
    assert {email: after[email] for email in consent_before} == consent_before
    store = klaviyo_env.state.provider_store("klaviyo")["imported"]
    sample = next(iter(store.values()))["attributes"]
    assert {"orders_count", "total_spent", "lifecycle_stage"} <= set(sample["properties"])
    assert "subscriptions" not in sample and "accepts_marketing" not in sample["properties"]


def test_only_changed_customers_are_resent(klaviyo_env: Any) -> None:
    world = klaviyo_env.world
    write_dim_customers(world)
    sync.run_sync(as_of=AS_OF, sleep=lambda s: None)
    sent_before = server_stats(klaviyo_env)["import_rows"]
    changed = world.visible_customers()[:3]
    write_dim_customers(world, edits={c.id: {"phone": "+15550001111", "orders_count": 7} for c in changed})
    result = sync.run_sync(as_of=AS_OF, sleep=lambda s: None)
    assert result.sent == 3
    assert server_stats(klaviyo_env)["import_rows"] - sent_before == 3
    imported = klaviyo_env.state.provider_store("klaviyo")["imported"]
    assert all(imported[c.email]["attributes"]["phone_number"] == "+15550001111" for c in changed)


def test_bad_rows_are_reported_not_lost(klaviyo_env: Any) -> None:
    world = klaviyo_env.world
    bad = [
        {"customer_id": 1, "email": "broken-address", "first_name": "Bad", "last_name": "Email", "phone": None, "city": "X",
         "province": "Y", "country_code": "US", "accepts_marketing": False, "created_at": None, "updated_at": None,
         "orders_count": 0, "total_spent": 0, "first_order_at": None, "last_order_at": None},
        {"customer_id": 2, "email": "bad.phone@example.com", "first_name": "Bad", "last_name": "Phone", "phone": "555-1234", "city": "X",
         "province": "Y", "country_code": "US", "accepts_marketing": False, "created_at": None, "updated_at": None,
         "orders_count": 0, "total_spent": 0, "first_order_at": None, "last_order_at": None},
    ]
    n = write_dim_customers(world, extra=bad)
    result = sync.run_sync(as_of=AS_OF, sleep=lambda s: None)
    assert result.failed == 2 and result.sent == n - 2
    assert set(result.errors) == {"broken-address", "bad.phone@example.com"}
    logged = dict(raw_query("klaviyo", "select email, error_detail from raw_klaviyo.profile_sync_log where status = 'error'"))
    assert set(logged) == {"broken-address", "bad.phone@example.com"} and all(logged.values())
    # Unchanged bad rows are not re-sent; once fixed, the row goes through.
    again = sync.run_sync(as_of=AS_OF, sleep=lambda s: None)
    assert again.sent == 0 and again.failed == 0
    bad[1]["phone"] = "+15551234567"
    write_dim_customers(world, extra=bad)
    fixed = sync.run_sync(as_of=AS_OF, sleep=lambda s: None)
    assert (fixed.sent, fixed.failed) == (1, 0)
    status = dict(raw_query("klaviyo", "select email, status from raw_klaviyo.profile_sync_log where email like 'b%'"))
    assert status["bad.phone@example.com"] == "synced" and status["broken-address"] == "error"


def test_dry_run_prints_and_sends_nothing(klaviyo_env: Any) -> None:
    n = write_dim_customers(klaviyo_env.world)
    lines: list[str] = []
    result = sync.run_sync(as_of=AS_OF, dry_run=True, out=lines.append)
    assert result.sent == 0 and server_stats(klaviyo_env)["import_jobs"] == 0
    payloads = [json.loads(line) for line in lines[:-1]]
    assert len(payloads) == n and "would be sent" in lines[-1]
    assert all("subscriptions" not in p["attributes"] for p in payloads)
    assert sync.previous_hashes() == {}  # nothing recorded


def test_lifecycle_stage_matches_the_dbt_rule() -> None:
    thresholds = sync.lifecycle_thresholds()
    from datetime import UTC, datetime, timedelta

    at = datetime(2026, 11, 1, tzinfo=UTC)
    assert sync.lifecycle_stage(0, None, AS_OF, thresholds) == "prospect"
    assert sync.lifecycle_stage(1, at - timedelta(days=10), AS_OF, thresholds) == "new"
    assert sync.lifecycle_stage(3, at - timedelta(days=10), AS_OF, thresholds) == "repeat"
    assert sync.lifecycle_stage(3, at - timedelta(days=thresholds["at_risk"] + 1), AS_OF, thresholds) == "at_risk"
    assert sync.lifecycle_stage(1, at - timedelta(days=thresholds["lapsed"] + 1), AS_OF, thresholds) == "lapsed"


def test_batches_stay_within_klaviyo_limits() -> None:
    profiles = [{"type": "profile", "attributes": {"email": f"p{i}@example.com"}} for i in range(2500)]
    chunks = list(sync.batches(profiles))
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    big = [{"type": "profile", "attributes": {"email": f"p{i}@example.com", "properties": {"blob": "x" * 20_000}}} for i in range(600)]
    for chunk in sync.batches(big):
        assert len(json.dumps(chunk)) < settings.BULK_IMPORT_MAX_BYTES


@pytest.mark.parametrize("argv", [["--dry-run", "--as-of", "2026-11-01"]])
def test_cli_dry_run(klaviyo_env: Any, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    write_dim_customers(klaviyo_env.world)
    assert sync.main(argv) == 0
    out = capsys.readouterr().out
    assert "would be sent" in out and server_stats(klaviyo_env)["import_jobs"] == 0
