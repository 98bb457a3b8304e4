"""The extraction DAG factory: generated from the registry, backfills reload exactly their interval, failures reach
the notifier with everything an on-call engineer needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from tests.dags import fake_provider as fake
from tests.dags.conftest import DAGS_DIR, load_dag


def _run(dag_id: str, logical_date: datetime, conf: dict[str, Any] | None = None, **task_overrides: Any) -> Any:
    dag = load_dag(dag_id)
    for task in dag.tasks:
        for key, value in task_overrides.items():
            setattr(task, key, value)
    return dag.test(logical_date=logical_date, run_conf=conf)


def test_a_registry_entry_is_all_it_takes(fake_provider: fake.FakeApi, pools: list[str]) -> None:
    """No DAG file mentions a provider: registering `fakeshop` adds its extract and reconcile DAGs and its pool."""
    for path in DAGS_DIR.rglob("*.py"):
        text = path.read_text()
        assert "shopify" not in text.lower() and "stripe" not in text.lower() and "klaviyo" not in text.lower(), path
    extract, reconcile = load_dag("extract_fakeshop"), load_dag("reconcile_fakeshop")
    assert [t.pool for t in extract.tasks] == [t.pool for t in reconcile.tasks] == ["extract_fakeshop"]
    assert "extract_fakeshop" in pools
    assert reconcile.timetable.expression == "0 3 * * 0"
    assert {"extract", "fakeshop"} <= set(extract.tags) and "reconcile" in reconcile.tags


def test_scheduled_run_is_incremental_and_backfill_reloads_exactly_its_interval(
    fake_provider: fake.FakeApi, pools: list[str]
) -> None:
    from pipelines.common.storage import raw_db_path

    # A normal run: incremental from the cursor, everything new is loaded, under the raw file's writer lock.
    run = _run("extract_fakeshop", datetime(2026, 10, 31, tzinfo=UTC))
    assert run.state == "success"
    assert fake_provider.calls[-1] == {} and fake_provider.lock_was_held[-1] is True
    assert fake.raw_rows() == {r["id"]: r["amount"] for r in fake.make_records()}
    size_before = raw_db_path(fake.NAME).stat().st_size

    # Corrections the cursor cannot see (updated_at unchanged): one inside 2026-10-06, one outside it.
    fake_provider.set_amount(5, 9_005)   # updated 2026-10-06 12:00
    fake_provider.set_amount(20, 9_020)  # updated 2026-10-21 12:00

    # The next scheduled run sees nothing new: its cursor has passed both records.
    _run("extract_fakeshop", datetime(2026, 11, 1, tzinfo=UTC))
    assert fake.raw_rows()[5] == 105 and fake.raw_rows()[20] == 120

    # Backfill of the day 2026-10-06: exactly that interval is re-read and merged.
    run = _run("extract_fakeshop", datetime(2026, 10, 7, tzinfo=UTC), conf={"reload_interval": True})
    assert run.state == "success"
    assert fake_provider.calls[-1] == {
        "interval_start": "2026-10-06T00:00:00+00:00",
        "interval_end": "2026-10-07T00:00:00+00:00",
    }
    rows = fake.raw_rows()
    assert rows[5] == 9_005  # inside the interval: reloaded
    assert rows[20] == 120  # outside: untouched
    assert len(rows) == 30  # merged on the primary key: nothing duplicated
    assert raw_db_path(fake.NAME).stat().st_size >= size_before

    # The backfill did not move the incremental cursor back: a normal run still loads nothing old.
    fake_provider.set_amount(6, 7_006)
    _run("extract_fakeshop", datetime(2026, 11, 2, tzinfo=UTC))
    assert fake.raw_rows()[6] == 106


def test_backfill_of_a_provider_without_interval_support_fails_clearly(
    fake_provider: fake.FakeApi, pools: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from pipelines.registry import get_provider

    fake.register(monkeypatch, dataclasses.replace(get_provider(fake.NAME), interval_reload=False))
    run = _run("extract_fakeshop", datetime(2026, 10, 9, tzinfo=UTC), conf={"reload_interval": True}, retries=0)
    assert run.state == "failed"
    assert fake_provider.calls == []  # nothing was extracted, nothing written


def test_interval_options_follow_the_run_type() -> None:
    from airflow.utils.types import DagRunType
    from dagkit.extract import interval_options

    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC)

    def ctx(run_type: Any, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"dag_run": SimpleNamespace(run_type=run_type, conf=conf or {}), "data_interval_start": start, "data_interval_end": end}

    expected = {"interval_start": start.isoformat(), "interval_end": end.isoformat()}
    assert interval_options(ctx(DagRunType.BACKFILL_JOB)) == expected  # `airflow backfill create`
    assert interval_options(ctx(DagRunType.MANUAL, {"reload_interval": True})) == expected
    assert interval_options(ctx(DagRunType.SCHEDULED)) == {}
    assert interval_options(ctx(DagRunType.MANUAL)) == {}
    with pytest.raises(ValueError, match="cannot reload"):
        interval_options({**ctx(DagRunType.BACKFILL_JOB), "data_interval_end": start})


def test_forced_failure_reaches_the_notifier(fake_provider: fake.FakeApi, pools: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A task that fails for good calls the one notifier with DAG, task, run, try number and log URL."""
    import notifications.airflow as slack_airflow

    received: list[dict[str, Any]] = []

    def stand_in() -> Any:
        return lambda context: received.append({**slack_airflow.task_facts(context), "ti": context["ti"]})

    monkeypatch.setattr(slack_airflow, "failure_notifier", stand_in)
    fake_provider.fail_with = RuntimeError("fakeshop API answered 500 three times")
    # One retry, immediately: the notifier must fire once, for the final try, not for the retried one.
    run = _run("extract_fakeshop", datetime(2026, 9, 30, tzinfo=UTC), retries=1, retry_delay=timedelta(0), retry_exponential_backoff=0)
    assert run.state == "failed"
    assert len(fake_provider.calls) == 2
    (facts,) = received
    assert facts["dag_id"] == "extract_fakeshop"
    assert facts["task_id"] == "extract"
    assert facts["run_id"] == run.run_id
    assert facts["try_number"] == 2
    assert facts["log_url"] and "extract_fakeshop" in facts["log_url"] and "extract" in facts["log_url"]
    assert "fakeshop API answered 500" in facts["error"]


def test_forced_failure_posts_one_alert_to_the_slack_sandbox(
    sandbox_env: Any, fake_provider: fake.FakeApi, pools: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real notifier, end to end: the failure lands in #alerts of the Slack sandbox with the same facts."""
    from sandbox.slack import messages

    monkeypatch.setenv("SLACK_MIN_INTERVAL_SECONDS", "0.01")
    fake_provider.fail_with = RuntimeError("fakeshop: 401 invalid api key")
    run = _run("extract_fakeshop", datetime(2026, 9, 29, tzinfo=UTC), retries=0)
    assert run.state == "failed"
    alerts = messages(sandbox_env.state, "alerts")
    assert len(alerts) == 1
    text = str(alerts[0])
    for fact in ("extract_fakeshop", run.run_id, "fakeshop: 401 invalid api key"):
        assert fact in text, fact
    assert "dag_id=extract_fakeshop" in text or "/dags/extract_fakeshop/" in text  # the log URL



def test_backfill_of_shopify_reloads_exactly_its_interval(sandbox_env: Any, pools: list[str]) -> None:
    """The same contract on a real provider: a backfill run of `extract_shopify` re-reads its hour's changes only."""
    import duckdb

    from pipelines.common.storage import raw_db_path

    world = sandbox_env.world
    assert _run("extract_shopify", datetime(2026, 11, 1, tzinfo=UTC)).state == "success"
    # The hourly run (cron "15 * * * *") whose data interval holds a past order update.
    touched = sorted(o.updated_at(world.now) for o in world.visible_orders())[len(world.visible_orders()) // 2]
    tick = touched.replace(minute=15, second=0, microsecond=0)
    start = tick if tick <= touched else tick - timedelta(hours=1)
    end = start + timedelta(hours=1)
    in_interval = {o.id for o in world.visible_orders() if start <= o.updated_at(world.now) < end}
    con = duckdb.connect(str(raw_db_path("shopify")))
    con.execute("delete from raw_shopify.orders where legacy_id in (select unnest(?))", [sorted(in_interval)])
    con.close()

    run = _run("extract_shopify", end, conf={"reload_interval": True})  # the run at `end` owns [start, end)
    assert run.state == "success"
    result = next(ti for ti in run.get_task_instances() if ti.task_id == "extract").xcom_pull()
    assert result["mode"] == "interval"
    assert result["interval"] == [start.isoformat(), end.isoformat()]
    assert result["rows_extracted"]["orders"] == len(in_interval)  # that hour's orders, nothing else
    con = duckdb.connect(str(raw_db_path("shopify")), read_only=True)
    loaded = {r[0] for r in con.execute("select legacy_id from raw_shopify.orders").fetchall()}
    con.close()
    assert in_interval <= loaded and len(loaded) == len(world.visible_orders())
