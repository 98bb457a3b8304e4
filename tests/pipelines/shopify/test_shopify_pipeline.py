"""The Shopify pipeline against the sandbox: completeness, idempotence, incremental cost, and every failure path."""

from __future__ import annotations

import logging

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

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


def test_rerun_is_idempotent_and_cheap(sandbox_env: SandboxServer) -> None:
    run_provider("shopify")
    counts = {t: raw_count("shopify", t) for t in ("customers", "orders", "orders__line_items", "orders__refunds")}
    second = run_provider("shopify")
    assert {t: raw_count("shopify", t) for t in counts} == counts
    assert second.total_rows == 0
    assert second.requests == 2  # one empty page per resource


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


def test_429_storm_is_ridden_out_honouring_retry_after(sandbox_env: SandboxServer) -> None:
    sandbox_env.state.add_fault("shopify", "429", count=4, retry_after=1)
    customers, orders = _expected_counts(sandbox_env)
    run_provider("shopify")
    stats = sandbox_env.state.stats["shopify"]
    assert stats.by_status[429] == 4
    assert raw_count("shopify", "customers") == customers and raw_count("shopify", "orders") == orders


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


def test_5xx_burst_is_survived(sandbox_env: SandboxServer) -> None:
    sandbox_env.state.add_fault("shopify", "5xx", count=3, status=502)
    customers, orders = _expected_counts(sandbox_env)
    run_provider("shopify")
    assert sandbox_env.state.stats["shopify"].by_status[502] == 3
    assert raw_count("shopify", "orders") == orders and raw_count("shopify", "customers") == customers


def test_malformed_page_fails_clearly_and_writes_nothing(sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    run_provider("shopify")
    loaded = raw_count("shopify", "orders"), raw_count("shopify", "customers")
    loads_before = raw_query("shopify", "select count(*) from raw_shopify._dlt_loads")[0][0]
    sandbox_env.world.advance(20)
    monkeypatch.setattr(settings, "CUSTOMERS_PAGE_SIZE", 3)
    sandbox_env.state.add_fault("shopify", "malformed", count=1, skip=1)  # page 1 fine, page 2 truncated mid-body
    with pytest.raises(PipelineStepFailed) as excinfo:
        run_provider("shopify")
    assert "malformed JSON" in str(excinfo.value)
    assert (raw_count("shopify", "orders"), raw_count("shopify", "customers")) == loaded  # nothing half-written
    assert raw_query("shopify", "select count(*) from raw_shopify._dlt_loads")[0][0] == loads_before
    run_provider("shopify")  # and nothing lost: the next run picks everything up from the committed cursor
    assert raw_count("shopify", "orders") == len(sandbox_env.world.visible_orders())
    assert raw_count("shopify", "customers") == len(sandbox_env.world.visible_customers())


def test_wrong_credential_gives_a_clear_error(sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", "shpat_definitely_wrong_0000")
    with pytest.raises(PipelineStepFailed) as excinfo:
        run_provider("shopify")
    assert "Shopify rejected the access token (HTTP 401)" in str(excinfo.value)
    assert sandbox_env.state.stats["shopify"].by_status[401] == 1  # auth errors are not retried


def test_secret_never_appears_in_logs(sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    secret = "shpat_live_looking_secret_123456"
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", secret)
    caplog.set_level(logging.DEBUG)
    sandbox_env.state.add_fault("shopify", "5xx", count=2)  # retries log too
    with pytest.raises(PipelineStepFailed) as excinfo:
        run_provider("shopify")
    logging.getLogger("opsdata.test").warning("debug dump: token=%s", secret)  # even a careless log line is masked
    out, err = capfd.readouterr()
    assert "***" in caplog.text
    for text in (caplog.text, out, err, str(excinfo.value)):
        assert secret not in text


def test_unknown_field_and_changed_type_do_not_break_the_load(sandbox_env: SandboxServer) -> None:
    sandbox_env.state.add_fault("shopify", "unknown_field", count=1, field="loyaltyTier", value="gold")
    sandbox_env.state.add_fault("shopify", "type_change", count=1, field="sourceName")
    run_provider("shopify")
    columns = {r[0] for r in raw_query("shopify", "describe raw_shopify.customers")}
    assert "loyalty_tier" in columns  # raw tables evolve; dbt staging selects named columns only
    assert raw_count("shopify", "orders") == len(sandbox_env.world.visible_orders())
