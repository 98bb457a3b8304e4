"""Shared by the Zendesk #support tests: the sandbox, scaled limits, Slack at a compressed pace, and the world's
breaches the notices must carry (computed from the simulator's SLA state, not from what the pipeline loaded)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from sandbox import slack

SCALE = "60"


def prepare(server: Any, monkeypatch: pytest.MonkeyPatch, lookback_hours: float) -> None:
    server.state.options["zendesk_rate_scale"] = SCALE
    monkeypatch.setenv("ZENDESK_RATE_LIMIT_SCALE", SCALE)
    monkeypatch.setenv("ZENDESK_BREACH_ALERT_LOOKBACK_HOURS", str(lookback_hours))
    for name in ("SLACK_TRANSPORT", "SLACK_ROUTES", "OPSDATA_AS_OF_DATE"):
        monkeypatch.delenv(name, raising=False)
    slack.set_min_interval(server.state, 0.1)
    monkeypatch.setenv("SLACK_MIN_INTERVAL_SECONDS", "0.1")


def newest_change(world: Any) -> datetime:
    """The newest instant the export shows (tickets and metric events stamped up to one minute before now)."""
    zw = world.extension("zendesk")
    cut = world.now - timedelta(minutes=1)
    return max([t.updated_at(cut) for t in zw.tickets if t.created_at <= cut] + [e.time for e in zw.metric_events if e.time <= cut])


def expected_breach_keys(world: Any, since: datetime) -> set[str]:
    """Notice keys of the counted tickets' breaches from `since` on, as the export shows them."""
    from pipelines.zendesk.alerts import sla_metric

    zw = world.extension("zendesk")
    cut = world.now - timedelta(minutes=1)
    return {f"zendesk:breach:{i.ticket_id}:{sla_metric(i.event_metric, i.instance_id)}:{i.instance_id}:{int(i.breach_at.timestamp())}"
            for t in zw.tickets if t.created_at <= cut and not t.excluded(cut)
            for i in t.sla_instances if i.breach_at is not None and since <= i.breach_at <= cut}


def support_texts(server: Any) -> list[str]:
    return [m["text"] for m in slack.messages(server.state, "support")]


def posted_keys() -> list[str]:
    from notifications.config import load_settings
    from notifications.outbox import Store

    return [r["key"] for r in Store(load_settings().state_path).rows("select key from notices where key like 'zendesk:%'")]
