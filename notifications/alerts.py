"""Incidents: one message when a problem starts, repeats folded during a cool-down, one message when it resolves.

An alert carries an incident `key` that says what is wrong, not when (`task:extract_stripe.extract`,
`provider:stripe:auth`, `provider:stripe:stale`, later `zendesk:sla:<ticket>`), and a `purpose` that routes it
(`alerts` → #alerts, `support` → #support: routing is configuration). While an incident is open:

- a repeat within `SLACK_ALERT_COOLDOWN_MINUTES` of the last post is folded (counted, no message);
- a repeat after the cool-down posts one "still failing" follow-up and restarts the cool-down;
- `resolve(key)` posts one "resolved" message with the duration and the number of occurrences.

The incident change and its outbox message are written in one transaction, so a crash or a task retry can neither
lose the message nor post it twice (message keys: `alert:<incident id>:opened|repeat:<n>|resolved`).

Notices (`Alert(once=True)`) are the other kind: facts that happen once, such as an SLA breach. A notice's key names
the fact (`zendesk:breach:<ticket>:<metric>:<instance>:<instant>`); it is posted once ever, never folded, repeated
or resolved, however often the data that shows it is re-read. The notices new in one call are grouped into one
message per purpose (split over several when long); the notice keys and the message are written in one
transaction (`post_notices`), so a crash or a retry neither loses nor repeats one.
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
    once: bool = False
    """A notice: a fact posted once ever (see `post_notices`), not an incident."""
    group: str = ""
    """For notices: what several of them are called together in one message, e.g. "SLA breaches"."""
    line: str = ""
    """For notices: the one-line mrkdwn form used when several are grouped (defaults to the title)."""


@dataclass
class AlertOutcome:
    action: str
    """opened | folded | repeated | resolved | posted (a notice) | skipped (a notice already posted) | none"""
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


NOTICE_LINES_PER_SECTION = 10


def notice_blocks(notices: list[Alert], now: datetime | None = None) -> list[dict[str, Any]]:
    """One notice: the alert layout. Several: a header naming how many, then one line each."""
    at = _ts(now)
    if len(notices) == 1:
        n = notices[0]
        out = bk.sections(f":rotating_light: *{bk.escape(n.title)}*" + (f"\n{bk.escape(bk.trim(n.summary, 2500))}" if n.summary else ""))
        fields = [{"type": "mrkdwn", "text": f"*{bk.escape(k)}*\n{bk.escape(bk.trim(str(v), 1900))}"} for k, v in n.details.items() if v not in (None, "")]
        if n.link:
            fields.append({"type": "mrkdwn", "text": f"*Link*\n<{n.link}|{bk.escape(n.link_label)}>"})
        if fields:
            out.append({"type": "section", "fields": fields[:10]})
        out.append(bk.context(f"Posted {_when(at)}"))
        return out
    group = notices[0].group or "notices"
    out = [bk.header(f"{len(notices)} new {group}")]
    lines = [n.line or bk.escape(n.title) for n in notices]
    for i in range(0, len(lines), NOTICE_LINES_PER_SECTION):
        out += bk.sections("\n".join(f"• {line}" for line in lines[i:i + NOTICE_LINES_PER_SECTION]))
    out.append(bk.context(f"Posted {_when(at)}"))
    return out


def post_notices(store: Store, settings: SlackSettings, notices: list[Alert], now: datetime | None = None) -> list[AlertOutcome]:
    """Enqueue the notices not posted before, grouped into one message per purpose. Idempotent: a key recorded once
    is never posted again (through retries, crashes and re-reads of the same data)."""
    import hashlib

    outcomes: list[AlertOutcome] = []
    by_purpose: dict[str, list[Alert]] = {}
    for n in notices:
        by_purpose.setdefault(n.purpose, []).append(n)
    at = _ts(now)
    for purpose, batch in by_purpose.items():
        channel = settings.channel_for(purpose)
        with store.transaction() as conn:
            seen: set[str] = set()
            new: list[Alert] = []
            for n in batch:
                if n.key in seen:
                    continue
                seen.add(n.key)
                if conn.execute("select 1 from notices where key = ?", (n.key,)).fetchone() is None:
                    new.append(n)
                else:
                    outcomes.append(AlertOutcome("skipped", None, None))
            if not new:
                continue
            digest = hashlib.sha256("\n".join(sorted(n.key for n in new)).encode()).hexdigest()[:16]
            title = f"{len(new)} new {new[0].group or 'notices'}" if len(new) > 1 else new[0].title
            pages = bk.paginate(notice_blocks(new, now), title)
            keys = []
            for i, page in enumerate(pages, start=1):
                key = f"notice:{purpose}:{digest}" + (f":part{i}" if len(pages) > 1 else "")
                store.enqueue(Message(key=key, purpose=purpose, channel=channel, text=bk.fallback_text(page), blocks=page), conn)
                keys.append(key)
            for n in new:
                conn.execute("insert into notices (key, message_key, purpose, posted_at) values (?, ?, ?, ?)", (n.key, keys[0], purpose, at))
                outcomes.append(AlertOutcome("posted", None, keys[0], 1))
    return outcomes
