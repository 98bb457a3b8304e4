"""Incidents: one message when a problem starts, repeats folded during a cool-down, one message when it resolves.

An alert carries an incident `key` that says what is wrong, not when (`task:extract_stripe.extract`,
`provider:stripe:auth`, `provider:stripe:stale`, later `zendesk:sla:<ticket>`), and a `purpose` that routes it
(`alerts` → #alerts, `support` → #support: routing is configuration). While an incident is open:

- a repeat within `SLACK_ALERT_COOLDOWN_MINUTES` of the last post is folded (counted, no message);
- a repeat after the cool-down posts one "still failing" follow-up and restarts the cool-down;
- `resolve(key)` posts one "resolved" message with the duration and the number of occurrences.

The incident change and its outbox message are written in one transaction, so a crash or a task retry can neither
lose the message nor post it twice (message keys: `alert:<incident id>:opened|repeat:<n>|resolved`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import blocks as bk
from .config import SlackSettings
from .outbox import Message, Store


@dataclass
class Alert:
    key: str
    title: str
    summary: str = ""
    purpose: str = "alerts"
    details: dict[str, str] = field(default_factory=dict)
    """Shown as fields (DAG, task, run, try, …); values are plain text."""
    link: str | None = None
    link_label: str = "View log"


@dataclass
class AlertOutcome:
    action: str
    """opened | folded | repeated | resolved | none"""
    incident_id: int | None
    message_key: str | None
    occurrences: int = 0


def _ts(now: datetime | None) -> float:
    return (now or datetime.now(UTC)).timestamp()


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} days {hours % 24} h"


def alert_blocks(alert: Alert, incident_id: int, opened_at: float, headline: str, occurrences: int = 1) -> list[dict[str, Any]]:
    text = f"{headline} *{bk.escape(alert.title)}*"
    if alert.summary:
        text += "\n" + bk.escape(bk.trim(alert.summary, 2500))
    out = bk.sections(text)
    fields = [{"type": "mrkdwn", "text": f"*{bk.escape(k)}*\n{bk.escape(bk.trim(str(v), 1900))}"} for k, v in alert.details.items() if v not in (None, "")]
    if alert.link:
        fields.append({"type": "mrkdwn", "text": f"*Log*\n<{alert.link}|{bk.escape(alert.link_label)}>"})
    if fields:
        out.append({"type": "section", "fields": fields[:10]})
    note = f"Incident #{incident_id} · opened {_when(opened_at)}"
    if occurrences > 1:
        note += f" · {occurrences} occurrences"
    out.append(bk.context(note))
    return out


def _message(alert: Alert, key: str, channel: str, blocks: list[dict[str, Any]]) -> Message:
    return Message(key=key, purpose=alert.purpose, channel=channel, text=bk.fallback_text(blocks), blocks=blocks)


def raise_alert(store: Store, settings: SlackSettings, alert: Alert, now: datetime | None = None) -> AlertOutcome:
    """Open an incident for `alert.key`, or fold this repeat into the open one. Enqueues at most one message."""
    at = _ts(now)
    channel = settings.channel_for(alert.purpose)
    cooldown = settings.alert_cooldown_minutes * 60
    with store.transaction() as conn:
        row = conn.execute("select * from incidents where key = ? and status = 'open'", (alert.key,)).fetchone()
        if row is None:
            cur = conn.execute(
                "insert into incidents (key, status, purpose, title, opened_at, last_seen_at, last_posted_at, details) "
                "values (?, 'open', ?, ?, ?, ?, ?, ?)",
                (alert.key, alert.purpose, alert.title, at, at, at, json.dumps(alert.details)),
            )
            incident_id = int(cur.lastrowid or 0)
            key = f"alert:{incident_id}:opened"
            blocks = alert_blocks(alert, incident_id, at, ":rotating_light:")
            store.enqueue(_message(alert, key, channel, blocks), conn)
            return AlertOutcome("opened", incident_id, key, 1)
        incident_id, occurrences = int(row["id"]), int(row["occurrences"]) + 1
        if at - row["last_posted_at"] < cooldown:
            conn.execute("update incidents set occurrences = ?, last_seen_at = ? where id = ?", (occurrences, at, incident_id))
            return AlertOutcome("folded", incident_id, None, occurrences)
        conn.execute(
            "update incidents set occurrences = ?, last_seen_at = ?, last_posted_at = ? where id = ?",
            (occurrences, at, at, incident_id),
        )
        key = f"alert:{incident_id}:repeat:{occurrences}"
        blocks = alert_blocks(alert, incident_id, row["opened_at"], ":repeat: Still happening:", occurrences)
        store.enqueue(_message(alert, key, channel, blocks), conn)
        return AlertOutcome("repeated", incident_id, key, occurrences)


def resolve(store: Store, settings: SlackSettings, key: str, now: datetime | None = None, note: str = "") -> AlertOutcome:
    """Close the open incident for `key` (if any) with one "resolved" message."""
    at = _ts(now)
    with store.transaction() as conn:
        row = conn.execute("select * from incidents where key = ? and status = 'open'", (key,)).fetchone()
        if row is None:
            return AlertOutcome("none", None, None)
        incident_id = int(row["id"])
        conn.execute("update incidents set status = 'resolved', resolved_at = ? where id = ?", (at, incident_id))
        text = f":white_check_mark: Resolved: *{bk.escape(row['title'])}*"
        if note:
            text += "\n" + bk.escape(note)
        blocks = [*bk.sections(text), bk.context(
            f"Incident #{incident_id} · open for {_duration(at - row['opened_at'])} · {row['occurrences']} occurrence(s)"
        )]
        message = Message(key=f"alert:{incident_id}:resolved", purpose=row["purpose"], channel=settings.channel_for(row["purpose"]),
                          text=bk.fallback_text(blocks), blocks=blocks)
        store.enqueue(message, conn)
        return AlertOutcome("resolved", incident_id, message.key, int(row["occurrences"]))


def open_incidents(store: Store, prefix: str = "") -> list[dict[str, Any]]:
    return store.rows("select * from incidents where status = 'open' and key like ? order by opened_at", (prefix + "%",))
