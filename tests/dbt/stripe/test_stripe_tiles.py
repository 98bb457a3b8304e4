"""The four Stripe tiles, built by dbt over a real pipeline load of the small world, equal the values computed from the
sandbox world's ground truth (exact to the cent), and stay equal after re-runs and a crash-and-retry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.common.storage import warehouse_path
from pipelines.run import run_provider
from pipelines.transform import run_dbt
from tests.conftest import point_at_sandbox
from tests.dbt.stripe import ground_truth as gt

TILES = ("stripe_subscription_metrics", "stripe_financial_summary", "stripe_payouts", "stripe_disputes")
SELECT = " ".join(f"+{t}" for t in TILES)
ADVANCE_DAYS = 10.5  # as-of date mid-month, 12:00 UTC: snapshots and events on either side of midnight


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, small_world_extractions: Any) -> Iterator[dict[str, Any]]:
    """One small world, advanced mid-month, loaded (full, then incremental) and built once for the module."""
    from sandbox.server import SandboxServer

    mp = pytest.MonkeyPatch()
    data = tmp_path_factory.mktemp("stripe-tiles")
    mp.setenv("OPSDATA_DATA_DIR", str(data))
    mp.setenv("OPSDATA_FAST_RETRIES", "1")
    mp.setenv("STRIPE_RATE_LIMIT_PER_SECOND", "1000")
    with SandboxServer(scale="small", latency="zero") as server:
        point_at_sandbox(mp, server.url)
        small_world_extractions.copy_into(data, "stripe")  # the full load of this world before the advance
        server.world.advance(ADVANCE_DAYS)
        run_provider("stripe")
        sw = server.world.extension("stripe")
        as_of = gt.as_of_date(sw)
        target = str(data / "dbt-target")
        run_dbt("build", "--select", SELECT, "--exclude", "source:*", as_of_date=as_of.isoformat(), target_path=target)
        yield {"server": server, "sw": sw, "as_of": as_of, "target": target, "data": data}
    mp.undo()


def tile(name: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(warehouse_path()), read_only=True) as con:
        result = con.sql(f"select * from tiles.{name}")
        columns = [d[0] for d in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def check_subscription_metrics(sw: Any, as_of: date) -> None:
    truth = gt.subscription_metrics(sw, as_of)
    rows = tile("stripe_subscription_metrics")
    assert {(r["month_start"], r["currency"]) for r in rows} == set(truth)
    for r in rows:
        t = truth[(r["month_start"], r["currency"])]
        for column in ("mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr"):
            assert r[column] == gt.major(t.get(column, 0), r["currency"]), (r["month_start"], r["currency"], column)
        assert (
            r["active_subscribers"],
            r["new_subscribers"],
            r["churned_subscribers"],
            r["reactivated_subscribers"],
        ) == (
            t["active"],
            t["new"],
            t["churned"],
            t["reactivated"],
        )


def check_financial_summary(sw: Any, as_of: date) -> None:
    truth = gt.financial_summary(sw, as_of)
    rows = {(r["transaction_date"], r["currency"]): r for r in tile("stripe_financial_summary")}
    assert set(truth) <= set(rows)
    for key, row in rows.items():
        expected = truth.get(key, {})
        for column in ("gross_volume", "refunds", "dispute_losses", "stripe_fees", "net", "payouts"):
            assert row[column] == expected.get(column, Decimal("0.00")), (key, column)
        assert row["net"] == row["gross_volume"] - row["refunds"] - row["dispute_losses"] - row["stripe_fees"]


def check_payouts(sw: Any, as_of: date) -> None:
    truth = gt.payouts(sw, as_of)
    rows = {r["payout_id"]: r for r in tile("stripe_payouts")}
    assert set(rows) == set(truth)
    for pid, row in rows.items():
        for column, value in truth[pid].items():
            assert row[column] == value, (pid, column)


def check_disputes(sw: Any, as_of: date) -> None:
    truth = gt.disputes(sw, as_of)
    rows = {r["dispute_id"]: r for r in tile("stripe_disputes")}
    assert set(rows) == set(truth)
    for did, row in rows.items():
        for column, value in truth[did].items():
            assert row[column] == value, (did, column)


def check_all(sw: Any, as_of: date) -> None:
    check_subscription_metrics(sw, as_of)
    check_financial_summary(sw, as_of)
    check_payouts(sw, as_of)
    check_disputes(sw, as_of)


def test_subscription_metrics_equal_ground_truth_and_every_movement_occurs(built: dict[str, Any]) -> None:
    check_subscription_metrics(built["sw"], built["as_of"])
    rows = tile("stripe_subscription_metrics")
    for column in ("new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr"):
        assert sum(r[column] for r in rows) > 0, f"the small world should exercise {column}"
    assert len({r["currency"] for r in rows}) >= 3
    assert any(r["logo_churn_rate"] for r in rows) and any(r["net_mrr_churn_rate"] for r in rows)


def test_financial_summary_equals_ground_truth(built: dict[str, Any]) -> None:
    check_financial_summary(built["sw"], built["as_of"])
    rows = tile("stripe_financial_summary")
    for column in ("gross_volume", "refunds", "dispute_losses", "stripe_fees", "payouts"):
        assert sum(r[column] for r in rows) != 0, column


def test_payouts_and_disputes_equal_ground_truth(built: dict[str, Any]) -> None:
    check_payouts(built["sw"], built["as_of"])
    check_disputes(built["sw"], built["as_of"])
    payouts, disputes = tile("stripe_payouts"), tile("stripe_disputes")
    assert {"paid", "failed"} <= {p["status"] for p in payouts} and any(p["is_upcoming"] for p in payouts)
    assert all(p["failure_message"] for p in payouts if p["status"] == "failed")
    assert any(d["is_open"] for d in disputes) and any(not d["is_open"] for d in disputes)


def test_reruns_and_a_retry_after_a_crash_leave_the_same_tiles(built: dict[str, Any]) -> None:
    server, sw, as_of = built["server"], built["sw"], built["as_of"]
    before = {t: sorted(map(repr, tile(t))) for t in TILES}
    run_provider("stripe")  # nothing changed: a no-op
    run_provider("stripe", mode="reconcile")
    server.state.add_fault("stripe", "5xx", count=200, path_contains="/v1/invoices")
    with pytest.raises(PipelineStepFailed):
        run_provider("stripe", mode="reconcile")  # crashes mid-load
    server.state.clear_faults()
    run_provider("stripe", mode="reconcile")  # the task retry
    run_dbt(
        "build", "--select", SELECT, "--exclude", "source:*", as_of_date=as_of.isoformat(), target_path=built["target"]
    )
    assert {t: sorted(map(repr, tile(t))) for t in TILES} == before
    check_all(sw, as_of)


def test_singular_and_unit_tests_exist(built: dict[str, Any]) -> None:
    # The build above ran them; make sure they are really part of it (a silently skipped test proves nothing).
    result = run_dbt(  # the build's vars and target: dbt reuses its parse
        "ls", "--select", SELECT, "--resource-type", "test", "--resource-type", "unit_test",
        as_of_date=built["as_of"].isoformat(), target_path=built["target"],
    )
    names = result.stdout
    assert "stripe_mrr_movements_reconcile" in names and "stripe_movements_classify_prior_zero_first" in names
    assert Path(built["target"]).exists()
