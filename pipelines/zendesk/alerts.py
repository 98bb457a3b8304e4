"""SLA breaches to #support: each new breach posted once, grouped when many arrive together.

A breach is Zendesk's own `breach` metric event (withdrawn ones, `deleted: true`, never count) on a ticket that counts
(not deleted, not spam, not merged away). Its notice key is ticket + policy metric + instance + breach instant, so
the same breach found again (a re-run of the export, a webhook and then the export, a retried task) is never posted
twice: `notifications.alerts.post_notices` records every key it posts in the same transaction as the message.

Two ways in, one key:
- after every extraction (the registry's `alerts` capability): the breaches in `raw_zendesk` (the export, the
  source of truth), from the last `ZENDESK_BREACH_ALERT_LOOKBACK_HOURS` (24) before the newest change the export saw,
  so a first load of two years of history does not flood the channel;
- when a ticket webhook arrives (`webhook.ZendeskWebhooks.after_store`): that ticket's metric events, read at once
  through the API (`GET /api/v2/tickets/{id}.json?include=metric_events,users`), so a breach on a ticket people are
  working on is posted within seconds.

"How long ago" is measured from the newest change the export saw (or the webhook's event time): the data's own clock.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from notifications import blocks as bk
from notifications.alerts import Alert
from pipelines.common.config import ConfigurationError
from pipelines.common.storage import raw_db_path

from . import settings

log = logging.getLogger("opsdata.zendesk.alerts")

METRIC_LABELS = {
    "first_reply_time": "first reply time",
    "next_reply_time": "next reply time",
    "periodic_update_time": "periodic update",
    "pausable_update_time": "pausable update",
    "requester_wait_time": "requester wait time",
    "agent_work_time": "agent work time",
    "total_resolution_time": "total resolution time",
}


@dataclass(frozen=True)
class Breach:
    ticket_id: int
    metric: str
    instance_id: int
    breached_at: datetime
    sla_metric: str
    target_minutes: int | None
    business_hours: bool | None
    policy_title: str | None
    priority: str | None
    requester_name: str | None
    ticket_url: str | None

    @property
    def key(self) -> str:
        return f"zendesk:breach:{self.ticket_id}:{self.sla_metric}:{self.instance_id}:{int(self.breached_at.timestamp())}"


def sla_metric(metric: str, instance_id: int) -> str:
    """Zendesk's metric event names -> its SLA policy metric names (reply_time instance 1 is the first reply)."""
    if metric == "reply_time":
        return "first_reply_time" if instance_id == 1 else "next_reply_time"
    return "total_resolution_time" if metric == "resolution_time" else metric


def agent_url(api_url: str | None) -> str | None:
    """https://x.zendesk.com/api/v2/tickets/12.json -> https://x.zendesk.com/agent/tickets/12"""
    if not api_url or "/api/v2/tickets/" not in api_url:
        return api_url
    root, _, rest = api_url.partition("/api/v2/tickets/")
    return f"{root}/agent/tickets/{rest.removesuffix('.json')}"


def ago(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} days"


def lookback() -> timedelta:
    raw = os.environ.get("ZENDESK_BREACH_ALERT_LOOKBACK_HOURS", "").strip()
    try:
        hours = float(raw) if raw else settings.BREACH_ALERT_LOOKBACK_HOURS
    except ValueError:
        raise ConfigurationError(f"ZENDESK_BREACH_ALERT_LOOKBACK_HOURS={raw!r} is not a number of hours") from None
    return timedelta(hours=hours)


def to_alert(b: Breach, now: datetime) -> Alert:
    label = METRIC_LABELS.get(b.sla_metric, b.sla_metric.replace("_", " "))
    target = ""
    if b.target_minutes is not None:
        target = f"{b.target_minutes} min" + (" (business hours)" if b.business_hours else " (calendar)")
    when = ago(now - b.breached_at)
    link = f"<{b.ticket_url}|#{b.ticket_id}>" if b.ticket_url else f"#{b.ticket_id}"
    return Alert(
        key=b.key,
        title=f"SLA breach: {label} on ticket #{b.ticket_id}",
        summary=f"Breached {when} ago" + (f", target {target}" if target else "") + (f", policy {b.policy_title}" if b.policy_title else ""),
        purpose="support",
        details={"Priority": b.priority or "none", "Requester": b.requester_name or "unknown",
                 "Breached": b.breached_at.strftime("%Y-%m-%d %H:%M UTC") + f" ({when} ago)", "Target": target},
        link=b.ticket_url,
        link_label=f"Ticket #{b.ticket_id}",
        once=True,
        group="SLA breaches",
        line=f"{link} {bk.escape(label)} · {bk.escape(b.priority or 'no priority')} · {bk.escape(b.requester_name or 'unknown')} · "
             f"breached {when} ago" + (f" (target {bk.escape(target)})" if target else ""),
    )


BREACHES_SQL = """
with tickets as (
    select id, status, priority, requester_id, url,
        coalesce(list_contains(cast(from_json(tags, '["VARCHAR"]') as varchar[]), 'closed_by_merge'), false) as is_merged
    from raw_zendesk.tickets
),
breaches as (
    select ticket_id, metric, instance_id, min(time) as breached_at
    from raw_zendesk.ticket_metric_events
    where type = 'breach' and not coalesce(deleted, false)
    group by 1, 2, 3
),
applied as (
    select ticket_id, metric, instance_id,
        cast(arg_max(sla ->> 'target', time) as integer) as target_minutes,
        cast(arg_max(sla ->> 'business_hours', time) as boolean) as business_hours,
        arg_max(sla -> 'policy' ->> 'title', time) as policy_title
    from raw_zendesk.ticket_metric_events
    where type = 'apply_sla'
    group by 1, 2, 3
)
select breaches.ticket_id, breaches.metric, breaches.instance_id, breaches.breached_at, applied.target_minutes,
    applied.business_hours, applied.policy_title, tickets.priority, users.name, tickets.url
from breaches
inner join applied using (ticket_id, metric, instance_id)
inner join tickets on breaches.ticket_id = tickets.id
left join raw_zendesk.users as users on tickets.requester_id = users.id
where tickets.status <> 'deleted' and not tickets.is_merged and breaches.breached_at >= ?
order by breaches.breached_at, breaches.ticket_id, breaches.metric, breaches.instance_id
"""
NEWEST_SQL = """
select greatest((select max(updated_at) from raw_zendesk.tickets), (select max(time) from raw_zendesk.ticket_metric_events))
"""


def _connect_read_only(attempts: int = 20) -> Any:
    """The raw file, read-only; waits out a writer (DuckDB refuses a reader while another process writes)."""
    import duckdb

    path = raw_db_path("zendesk")
    for attempt in range(attempts):
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException:
            if attempt == attempts - 1:
                raise
            time.sleep(min(5.0, 0.2 * 2**attempt))
    raise AssertionError("unreachable")


def breaches_from_export() -> tuple[list[Breach], datetime | None]:
    """(breaches within the look-back of the newest change the export saw, that instant)."""
    import duckdb

    if not raw_db_path("zendesk").exists():
        return [], None
    con = _connect_read_only()
    try:
        newest = con.execute(NEWEST_SQL).fetchone()
        if newest is None or newest[0] is None:
            return [], None
        now = newest[0].astimezone(UTC)
        rows = con.execute(BREACHES_SQL, [now - lookback()]).fetchall()
    except duckdb.CatalogException:  # nothing loaded yet
        return [], None
    finally:
        con.close()
    return [Breach(int(t), m, int(i), b.astimezone(UTC), sla_metric(m, int(i)), target, business, title, priority, name, agent_url(url))
            for t, m, i, b, target, business, title, priority, name, url in rows], now


def new_breach_alerts() -> list[Alert]:
    """The registry's `alerts` capability: breach notices from the data just loaded (posted once each)."""
    breaches, now = breaches_from_export()
    if now is None:
        return []
    log.info("zendesk: %d SLA breach(es) in the last %s of the export", len(breaches), lookback())
    return [to_alert(b, now) for b in breaches]


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC)


def breaches_of_ticket(body: dict[str, Any]) -> list[Breach]:
    """Breaches in a `GET /api/v2/tickets/{id}.json?include=metric_events,users` answer (none for a ticket that is
    deleted or merged away)."""
    ticket = body.get("ticket") or {}
    tags = ticket.get("tags") or []
    if ticket.get("status") == "deleted" or "closed_by_merge" in tags:
        return []
    users = {u.get("id"): u for u in body.get("users") or []}
    requester = users.get(ticket.get("requester_id")) or {}
    events = [e for group in (body.get("metric_events") or {}).values() for e in group]
    applied: dict[tuple[str, int], dict[str, Any]] = {}
    breached: dict[tuple[str, int], datetime] = {}
    for e in sorted(events, key=lambda e: (e.get("time") or "", e.get("id") or 0)):
        key = (str(e.get("metric")), int(e.get("instance_id") or 0))
        if e.get("type") == "apply_sla" and e.get("sla"):
            applied[key] = e["sla"]
        elif e.get("type") == "breach" and not e.get("deleted"):
            breached.setdefault(key, _parse(e["time"]))
    out = []
    for (metric, instance), at in breached.items():
        sla = applied.get((metric, instance))
        if sla is None:
            continue
        out.append(Breach(int(ticket["id"]), metric, instance, at, sla_metric(metric, instance), sla.get("target"),
                          sla.get("business_hours"), (sla.get("policy") or {}).get("title"), ticket.get("priority"),
                          requester.get("name"), agent_url(ticket.get("url"))))
    return out


def breach_alerts_for_tickets(ticket_ids: Iterable[int], reference: int | None = None) -> list[Alert]:
    """Breach notices for these tickets, read through the API now (the webhook path)."""
    from pipelines.common.config import provider_config

    from .helpers import SinglePage, body_of, rest_client

    rest = rest_client(provider_config("zendesk"))
    now = datetime.fromtimestamp(reference, UTC) if reference else None
    found: list[Breach] = []
    for ticket_id in sorted(set(ticket_ids)):
        try:
            pages = list(rest.paginate(f"{settings.API}/tickets/{ticket_id}.json", params={"include": "metric_events,users"},
                                       paginator=SinglePage()))
        except Exception as exc:  # a ticket deleted meanwhile (404) or a transient failure: the export catches up
            log.info("zendesk: could not read ticket %s for SLA breaches (%s)", ticket_id, type(exc).__name__)
            continue
        found += breaches_of_ticket(body_of(pages[0]) if pages else {})
    if not found:
        return []
    now = now or max(b.breached_at for b in found)
    return [to_alert(b, now) for b in found if b.breached_at >= now - lookback()]
