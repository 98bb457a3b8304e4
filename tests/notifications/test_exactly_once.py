"""Exactly once: a task retried after a crash before the post, after the post, or in between gives one message."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from notifications import jobs
from notifications.airflow import failure_notifier
from pipelines.common.storage import tiles_path
from sandbox import slack

TILES_SQL = """
create schema tiles;
create table tiles.shopify_sales_daily as
select * from (values
    (date '2026-10-30', 'USD', 10, 1000.00, 50.00, 20.00, 80.00, 1050.00, 0.00, 1050.00, 3, 7, 105.00),
    (date '2026-10-31', 'USD', 12, 1300.00, 40.00, 20.00, 90.00, 1370.00, 70.00, 1300.00, 4, 8, 114.17)
) as t(order_date, currency, orders_count, gross_sales, discounts, shipping, taxes, orders_total, refunds, net_sales,
       new_customers, returning_customers, average_order_value);
"""


def make_tiles(data_dir: Path) -> None:
    with duckdb.connect(str(tiles_path())) as conn:
        conn.execute(TILES_SQL)


def run_task(code: str) -> int:
    """Run a notify task in its own process, as Airflow does; `os._exit` in `code` is a crash (no cleanup)."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.run([sys.executable, "-c", code], env=env, timeout=120).returncode


CRASH_BEFORE_POST = """
from notifications import jobs
import os
jobs.deliver = lambda *a, **k: os._exit(3)   # the process dies after queueing, before any post
jobs.send_digest("daily")
"""

CRASH_AFTER_POST = """
from notifications import jobs
import os
jobs.send_digest("daily")
os._exit(3)   # the post went through, then the task died before finishing
"""

CRASH_BETWEEN_POST_AND_RECORD = """
from notifications import outbox, jobs
import os
outbox.Store.mark_sent = lambda self, key, ts: os._exit(3)   # Slack has it; the outbox never heard back
jobs.send_digest("daily")
"""


@pytest.mark.parametrize("crash", [CRASH_BEFORE_POST, CRASH_AFTER_POST], ids=["before-post", "after-post"])
def test_retry_after_a_crash_posts_the_digest_exactly_once(slack_env, warehouse, crash) -> None:  # type: ignore[no-untyped-def]
    make_tiles(warehouse)
    assert run_task(crash) == 3
    store, _ = jobs.context()
    (queued,) = store.messages()
    before = crash is CRASH_BEFORE_POST
    assert (queued.status, len(slack.messages(slack_env.state, "ops"))) == (("pending", 0) if before else ("sent", 1))
    assert run_task("from notifications import jobs; jobs.send_digest('daily')") == 0  # the Airflow retry
    assert run_task("from notifications import jobs; jobs.send_digest('daily')") == 0  # a manual re-run
    posted = slack.messages(slack_env.state, "ops")
    assert len(posted) == 1
    assert "Daily digest · Sat 31 Oct 2026" in posted[0]["text"]


@pytest.mark.parametrize("transport", ["bot", "webhook"])
def test_crash_between_post_and_record(slack_env, warehouse, monkeypatch, transport) -> None:  # type: ignore[no-untyped-def]
    make_tiles(warehouse)
    monkeypatch.setenv("SLACK_TRANSPORT", transport)
    monkeypatch.setenv("SLACK_OUTBOX_LEASE_SECONDS", "0")  # the retry comes after the lease (Airflow's retry delay)
    assert run_task(CRASH_BETWEEN_POST_AND_RECORD) == 3
    (row,) = jobs.send_digest("daily")
    assert row["status"] == "sent"
    posted = slack.messages(slack_env.state, "ops")
    if transport == "bot":  # Slack is asked (message metadata carries the key): found, recorded as sent, not re-sent
        assert len(posted) == 1 and row["ts"] == posted[0]["ts"]
    else:  # a webhook cannot be read back: re-sent (at least once, never lost), both copies carry the same ref
        assert len(posted) == 2 and {m["text"].splitlines()[-1] for m in posted} == {f"ref {row['key']}"}


def test_rerun_of_a_digest_is_a_no_op(slack_env, warehouse) -> None:  # type: ignore[no-untyped-def]
    make_tiles(warehouse)
    first = jobs.send_digest("daily", as_of=date(2026, 10, 31))
    second = jobs.send_digest("daily", as_of=date(2026, 10, 31))
    assert first == second and first[0]["status"] == "sent"
    jobs.send_digest("daily", as_of=date(2026, 10, 30))  # another period is another message
    assert len(slack.messages(slack_env.state, "ops")) == 2


class FakeTI:
    def __init__(self, try_number: int) -> None:
        self.dag_id, self.task_id, self.run_id = "extract_shopify", "extract", "scheduled__2026-11-01T00:15:00+00:00"
        self.try_number, self.max_tries = try_number, 2
        self.log_url = f"http://airflow.local/dags/extract_shopify/runs/x/tasks/extract?try_number={try_number}"


def test_task_retries_fold_into_one_incident(slack_env) -> None:  # type: ignore[no-untyped-def]
    notifier = failure_notifier()
    for attempt in (1, 2, 3):  # every failed try calls the callback
        context: dict[str, Any] = {"ti": FakeTI(attempt), "exception": RuntimeError("GraphQL returned 500 again")}
        notifier(context)
    posted = slack.messages(slack_env.state, "alerts")
    assert len(posted) == 1
    store, _ = jobs.context()
    (incident,) = store.rows("select * from incidents")
    assert incident["occurrences"] == 3 and incident["status"] == "open"
