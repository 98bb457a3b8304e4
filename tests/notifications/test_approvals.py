"""Approval-queue reminders: read the queue over HTTP, group due items, remind each at most once per interval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from notifications import approvals, jobs
from notifications.approvals import ApprovalItem, ApprovalSourceError
from notifications.tiles import TileReader
from pipelines.common.config import ConfigurationError
from sandbox import slack
from sandbox.approvals import SANDBOX_CREDENTIALS, pending_items

NOW = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)


def item(n: int, hours_ago: float) -> ApprovalItem:
    return ApprovalItem(f"apr_{n}", "refund", f"Refund #{n}", NOW - timedelta(hours=hours_ago), "maya@example.com", f"https://x/{n}")


def test_reads_the_queue_with_pagination(slack_env) -> None:  # type: ignore[no-untyped-def]
    slack_env.world.advance(10)
    url = f"{slack_env.url}/approvals/v1/approvals"
    snapshot = approvals.read_http(url, SANDBOX_CREDENTIALS["api_token"], page_size=1)
    truth = pending_items(slack_env.state)
    assert len(truth) >= 2
    assert [(i.id, i.kind, i.title, i.requested_at, i.requested_by, i.link) for i in snapshot.items] == [
        (t.id, t.kind, t.title, t.requested_at, t.requested_by, t.link) for t in truth
    ]
    assert snapshot.as_of == slack_env.world.now  # waiting times are measured on the queue's clock
    assert approvals.read_queue() == snapshot  # APPROVALS_URL / APPROVALS_TOKEN point at the sandbox queue


def test_unreadable_queue_fails_clearly(slack_env) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ApprovalSourceError, match="401"):
        approvals.read_http(f"{slack_env.url}/approvals/v1/approvals", "wrong-token")
    with pytest.raises(ApprovalSourceError, match="lacks \\['requested_by'\\]"):
        ApprovalItem.parse({"id": "a", "kind": "k", "title": "t", "requested_at": "2026-11-01T00:00:00Z", "link": "l"})
    with pytest.raises(ApprovalSourceError, match="bad requested_at"):
        ApprovalItem.parse({"id": "a", "kind": "k", "title": "t", "requested_at": "yesterday", "requested_by": "x", "link": "l"})


def test_sql_source_needs_its_settings(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("APPROVALS_SOURCE", "sql")
    monkeypatch.delenv("APPROVALS_SQL", raising=False)
    with pytest.raises(ConfigurationError, match="APPROVALS_SQL_CONN_ID and APPROVALS_SQL"):
        approvals.read_queue()


def test_sql_rows_follow_the_contract_order() -> None:
    row = ("apr_9", "refund", "Refund $80", datetime(2026, 11, 1, 8, 0), "li@example.com", "https://x/9")
    parsed = ApprovalItem.parse(row)
    assert parsed.requested_at == datetime(2026, 11, 1, 8, 0, tzinfo=UTC) and parsed.link == "https://x/9"


def test_reminders_are_grouped_and_rate_limited_per_item(fast_slack) -> None:  # type: ignore[no-untyped-def]
    store, settings = jobs.context()
    queue = [item(1, 30), item(2, 50), item(3, 2)]  # threshold 24 h: items 1 and 2 are due, 3 is not
    message = approvals.queue_reminders(store, settings, queue, NOW)
    assert message is not None
    assert message.blocks[0]["text"]["text"] == "2 approval(s) waiting"
    assert "Refund #2" in message.text and "Refund #1" in message.text and "Refund #3" not in message.text
    assert message.text.index("Refund #2") < message.text.index("Refund #1")  # oldest first
    assert "waiting 2 days" in message.text and "waiting 30 h" in message.text
    # an hour later: nothing new is due (each item at most once per 24 h interval)
    assert approvals.queue_reminders(store, settings, queue, NOW + timedelta(hours=1)) is None
    # 23 h later item 3 has become due on its own: only it is reminded
    later = approvals.queue_reminders(store, settings, queue, NOW + timedelta(hours=23))
    assert later is not None and "Refund #3" in later.text and "Refund #1" not in later.text
    # after the interval, the still-pending first two come back
    again = approvals.queue_reminders(store, settings, queue[:2], NOW + timedelta(hours=24))
    assert again is not None and again.blocks[0]["text"]["text"] == "2 approval(s) waiting"


def test_big_backlog_still_fits_one_message(fast_slack) -> None:  # type: ignore[no-untyped-def]
    store, settings = jobs.context()
    message = approvals.queue_reminders(store, settings, [item(n, 48 + n) for n in range(300)], NOW)
    assert message is not None
    assert "…and 260 more." in message.text
    assert slack.validate_blocks(message.blocks) is None


def test_send_approval_reminders_end_to_end_and_retry_safe(slack_env) -> None:  # type: ignore[no-untyped-def]
    slack_env.world.advance(10)
    now = slack_env.world.now
    due = [i for i in pending_items(slack_env.state) if now - i.requested_at >= timedelta(hours=24)]
    assert due
    (posted,) = jobs.send_approval_reminders()  # defaults to the sandbox world's clock
    assert posted["status"] == "sent" and posted["channel"] == "#ops"
    (message,) = slack.messages(slack_env.state, "ops")
    assert message["blocks"][0]["text"]["text"] == f"{len(due)} approval(s) waiting"
    body = json.dumps(message["blocks"])
    for i in due:
        assert f"<{i.link}|" in body  # each item links to where it is approved
    assert jobs.send_approval_reminders() == []  # a re-run or task retry posts nothing more
    assert len(slack.messages(slack_env.state, "ops")) == 1


def test_preview_renders_without_posting(slack_env, warehouse) -> None:  # type: ignore[no-untyped-def]
    import duckdb

    with duckdb.connect(str(TileReader().path)) as conn:
        conn.execute("create schema tiles")
        conn.execute(
            "create table tiles.shopify_sales_daily as select * from (values (date '2026-10-30', 'USD', 3, 300.00, 0.00, 300.00),"
            " (date '2026-10-31', 'USD', 4, 420.00, 20.00, 400.00)) as t(order_date, currency, orders_count, orders_total, refunds, net_sales)"
        )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for kind in ("daily", "weekly", "alert"):
        out = subprocess.run([sys.executable, "-m", "notifications", "preview", kind], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        text, _, raw = out.stdout.partition("----- Block Kit JSON -----")
        assert json.loads(raw)[0]["blocks"]
        if kind == "daily":
            assert "Daily digest · Sat 31 Oct 2026" in text and "Net sales $400.00  ▲ 33.3%" in text
        if kind == "alert":
            assert "extract_stripe.extract failed" in text
    as_json = subprocess.run([sys.executable, "-m", "notifications", "preview", "weekly", "--as-of", "2026-10-31", "--json"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(as_json.stdout)[0]["blocks"][0]["text"]["text"] == "Weekly digest · 25 Oct – 31 Oct 2026"
    for channel in ("ops", "alerts"):
        assert slack.messages(slack_env.state, channel) == []  # nothing was posted
