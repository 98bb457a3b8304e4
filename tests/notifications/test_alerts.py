"""Incidents (open, fold, follow-up, resolve), routing by purpose, the Airflow notifiers and provider health."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest

from notifications import jobs
from notifications.airflow import OpsAlertNotifier, failure_notifier, recovery_notifier, task_facts
from notifications.alerts import Alert
from notifications.health import classify_failure
from pipelines.common.storage import raw_db_path
from sandbox import slack

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def texts(server: Any, channel: str) -> list[str]:
    return [m["text"] for m in slack.messages(server.state, channel)]


def test_incident_opens_folds_follows_up_and_resolves(fast_slack) -> None:  # type: ignore[no-untyped-def]
    alert = Alert(key="provider:stripe:auth", title="stripe: authentication failing", summary="401 Invalid API Key")
    assert jobs.report_alert(alert, now=T0).action == "opened"
    assert jobs.report_alert(alert, now=T0 + timedelta(minutes=10)).action == "folded"
    assert jobs.report_alert(alert, now=T0 + timedelta(minutes=59)).action == "folded"
    follow_up = jobs.report_alert(alert, now=T0 + timedelta(minutes=61))  # past the 60 min cool-down
    assert (follow_up.action, follow_up.occurrences) == ("repeated", 4)
    assert jobs.report_alert(alert, now=T0 + timedelta(minutes=70)).action == "folded"
    resolved = jobs.resolve_alert("provider:stripe:auth", now=T0 + timedelta(hours=2, minutes=5), note="Loaded fine.")
    assert resolved.action == "resolved"
    assert jobs.resolve_alert("provider:stripe:auth", now=T0 + timedelta(hours=3)).action == "none"  # once
    posted = texts(fast_slack, "alerts")
    assert len(posted) == 3
    assert posted[0].startswith(":rotating_light: stripe: authentication failing\n401 Invalid API Key")
    assert "Still happening: stripe: authentication failing" in posted[1] and "4 occurrences" in posted[1]
    assert "Resolved: stripe: authentication failing" in posted[2]
    assert "open for 2 h 5 min · 5 occurrence(s)" in posted[2]
    again = jobs.report_alert(alert, now=T0 + timedelta(hours=4))  # a new incident after resolution
    assert again.action == "opened" and again.incident_id != resolved.incident_id


def test_routing_is_configuration(fast_slack, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Zendesk SLA breaches will use purpose "support": routed by the default table, then re-routed by config alone.
    jobs.report_alert(Alert(key="zendesk:sla:101", title="Ticket 101 breached its SLA", purpose="support"))
    assert len(texts(fast_slack, "support")) == 1
    monkeypatch.setenv("SLACK_ROUTES", json.dumps({"support": "#ops", "billing": "#alerts"}))
    jobs.report_alert(Alert(key="zendesk:sla:102", title="Ticket 102 breached its SLA", purpose="support"))
    jobs.report_alert(Alert(key="billing:1", title="New purpose, no code change", purpose="billing"))
    assert len(texts(fast_slack, "support")) == 1
    assert texts(fast_slack, "ops")[0].startswith(":rotating_light: Ticket 102")
    assert texts(fast_slack, "alerts")[0].startswith(":rotating_light: New purpose")


class FakeTI:
    dag_id = "transform"
    task_id = "dbt_build"
    run_id = "manual__2026-11-01T06:00:00+00:00"
    try_number = 2
    max_tries = 2
    log_url = "http://airflow.local/dags/transform/runs/manual__2026-11-01/tasks/dbt_build?try_number=2"


def test_failure_notifier_carries_task_facts_into_the_alert(fast_slack) -> None:  # type: ignore[no-untyped-def]
    notifier = failure_notifier()
    from airflow.sdk import BaseNotifier

    assert isinstance(notifier, BaseNotifier) and isinstance(notifier, OpsAlertNotifier)
    notifier({"ti": FakeTI(), "exception": ValueError("model tiles.x failed its contract")})
    (message,) = slack.messages(fast_slack.state, "alerts")
    text = message["text"]
    for fact in ("transform.dbt_build failed", "ValueError: model tiles.x failed its contract", "transform",
                 "dbt_build", "manual__2026-11-01T06:00:00+00:00", "2 of 3", "View log"):
        assert fact in text
    fields = next(b for b in message["blocks"] if "fields" in b)["fields"]
    assert f"<{FakeTI.log_url}|View log>" in fields[-1]["text"]
    recovery_notifier()({"ti": FakeTI()})
    assert "Resolved: transform.dbt_build failed" in texts(fast_slack, "alerts")[-1]


def test_task_facts_from_a_context_without_task_instance() -> None:
    facts = task_facts({"dag_run": type("R", (), {"run_id": "r1"})(), "exception": "boom"})
    assert facts["run_id"] == "r1" and facts["error"] == "boom" and facts["dag_id"] == "?"


@pytest.mark.parametrize(
    ("dag", "error", "key"),
    [
        ("extract_stripe", "HTTPError: 401 Client Error: Unauthorized", "provider:stripe:auth"),
        ("extract_klaviyo", "ResponseError: 429 Too Many Requests after 8 retries", "provider:klaviyo:rate_limited"),
        ("reconcile_stripe", "Invalid API Key provided", "provider:stripe:auth"),
        ("extract_shopify", "KeyError: 'edges'", "task:extract_shopify.extract"),
        ("transform", "401 somewhere in dbt", "task:transform.extract"),
    ],
)
def test_failures_are_classified_into_incidents(dag, error, key) -> None:  # type: ignore[no-untyped-def]
    assert classify_failure(dag, "extract", error)[0] == key


def test_repeated_auth_failures_across_tasks_are_one_incident(fast_slack) -> None:  # type: ignore[no-untyped-def]
    notifier = failure_notifier()
    for task in ("extract", "extract", "reconcile"):
        ti = type("TI", (), {"dag_id": "extract_stripe", "task_id": task, "run_id": "r", "try_number": 1, "max_tries": 0, "log_url": None})()
        notifier({"ti": ti, "exception": RuntimeError("401 Unauthorized: invalid_api_key")})
    (message,) = slack.messages(fast_slack.state, "alerts")
    assert "stripe: authentication failing" in message["text"]


def write_loads(provider: str, loaded_at: datetime | None) -> None:
    with duckdb.connect(str(raw_db_path(provider))) as conn:
        conn.execute(f"create schema raw_{provider}")
        conn.execute(f"create table raw_{provider}._dlt_loads (load_id varchar, schema_name varchar, status bigint, inserted_at timestamptz)")
        if loaded_at:
            conn.execute(f"insert into raw_{provider}._dlt_loads values ('1', 'x', 0, ?)", [loaded_at])
            conn.execute(f"insert into raw_{provider}._dlt_loads values ('2', 'x', 1, ?)", [loaded_at + timedelta(hours=5)])


def test_stale_data_opens_then_resolves(fast_slack) -> None:  # type: ignore[no-untyped-def]
    write_loads("shopify", T0)
    posted = jobs.check_provider_health(now=T0 + timedelta(hours=30), providers=["shopify"])
    assert [p["key"] for p in posted] == ["alert:1:opened"]
    assert "shopify: no fresh data" in posted[0]["text"] and "last successful load 30.0 h ago (allowed: 26 h)" in posted[0]["text"]
    assert jobs.check_provider_health(now=T0 + timedelta(hours=30, minutes=30), providers=["shopify"]) == []  # folded
    raw_db_path("shopify").unlink()
    write_loads("shopify", T0 + timedelta(hours=32))
    (resolved,) = jobs.check_provider_health(now=T0 + timedelta(hours=33), providers=["shopify"])
    assert "Resolved: shopify: no fresh data" in resolved["text"]
    assert len(texts(fast_slack, "alerts")) == 2


def test_allowed_age_per_provider(fast_slack, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    write_loads("shopify", T0)
    monkeypatch.setenv("SHOPIFY_STALE_AFTER_HOURS", "48")
    assert jobs.check_provider_health(now=T0 + timedelta(hours=30), providers=["shopify"]) == []
    (stale,) = jobs.check_provider_health(now=T0 + timedelta(hours=49), providers=["shopify"])
    assert "(allowed: 48 h)" in stale["text"]


def test_fresh_load_resolves_that_providers_failure_incidents(fast_slack) -> None:  # type: ignore[no-untyped-def]
    jobs.report_alert(Alert(key="provider:shopify:rate_limited", title="shopify: rate limited"), now=T0)
    jobs.report_alert(Alert(key="task:extract_shopify.extract", title="extract failed"), now=T0)
    jobs.report_alert(Alert(key="task:extract_stripe.extract", title="stripe extract failed"), now=T0)
    write_loads("shopify", T0 + timedelta(hours=1))
    posted = jobs.check_provider_health(now=T0 + timedelta(hours=2), providers=["shopify"])
    assert sorted(p["text"].split("\n")[0] for p in posted) == [
        ":white_check_mark: Resolved: extract failed", ":white_check_mark: Resolved: shopify: rate limited"
    ]


def test_never_loaded_and_busy_files(fast_slack, warehouse) -> None:  # type: ignore[no-untyped-def]
    (never,) = jobs.check_provider_health(now=T0, providers=["shopify"])
    assert "shopify: never loaded" in never["text"]
    write_loads("stripe", T0)
    holder = subprocess.Popen(  # another process writing the raw file until its stdin closes: a reader cannot open it
        [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(raw_db_path('stripe'))!r}); print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        assert jobs.check_provider_health(now=T0 + timedelta(days=5), providers=["stripe"]) == []  # busy: no alert
        assert holder.poll() is None  # answered while the file was still held: it did not wait for the writer
    finally:
        holder.kill()
        holder.wait()
    (stale,) = jobs.check_provider_health(now=T0 + timedelta(days=5), providers=["stripe"])
    assert "stripe: no fresh data" in stale["text"]
