"""Approval-queue reminders: the merchant's pending operator actions that have waited too long.

The contract of one queue item: `id`, `kind`, `title`, `requested_at` (ISO 8601, UTC), `requested_by`, `link`.
Two sources, chosen by configuration:

- HTTP JSON (`APPROVALS_SOURCE=http`, the default): `GET <APPROVALS_URL>?status=pending&limit=100[&cursor=…]`
  with `Authorization: Bearer <APPROVALS_TOKEN>`, answering `{"data": [items], "next_cursor": str | null,
  "as_of": ISO 8601 (optional: the queue's clock, which decides how long an item has waited)}`. The Airflow
  Connection `approvals_api` (host = URL, password = token) is the alternative to the variables.
- SQL (`APPROVALS_SOURCE=sql`): `APPROVALS_SQL` run on the Airflow Connection `APPROVALS_SQL_CONN_ID` through its
  hook; the query selects exactly the six contract columns, in contract order.

Items pending longer than `APPROVAL_REMIND_AFTER_HOURS` are reminded in one grouped message, each item at most
once per `APPROVAL_REMIND_EVERY_HOURS`. The reminder bookkeeping and the message are written in one transaction.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from pipelines.common.config import ConfigurationError, resolve_credentials

from . import blocks as bk
from .config import SlackSettings, _connection
from .outbox import Message, Store

FIELDS = ("id", "kind", "title", "requested_at", "requested_by", "link")
MAX_LISTED = 40
"""Items listed in one reminder; the rest are counted ("and 12 more"), so a huge backlog still fits one message."""


class ApprovalSourceError(RuntimeError):
    """The approval queue could not be read, or answered something that breaks the contract."""


@dataclass(frozen=True)
class ApprovalItem:
    id: str
    kind: str
    title: str
    requested_at: datetime
    requested_by: str
    link: str

    @classmethod
    def parse(cls, raw: Any) -> ApprovalItem:
        if isinstance(raw, (list, tuple)):
            raw = dict(zip(FIELDS, raw, strict=False))
        if not isinstance(raw, dict):
            raise ApprovalSourceError(f"approval item is not an object: {raw!r}")
        missing = [f for f in FIELDS if raw.get(f) in (None, "")]
        if missing:
            raise ApprovalSourceError(f"approval item {raw.get('id')!r} lacks {missing} (contract: {', '.join(FIELDS)})")
        requested = raw["requested_at"]
        if isinstance(requested, str):
            try:
                requested = datetime.fromisoformat(requested.replace("Z", "+00:00"))
            except ValueError as exc:
                raise ApprovalSourceError(f"approval item {raw['id']!r}: bad requested_at {requested!r}") from exc
        if not isinstance(requested, datetime):
            raise ApprovalSourceError(f"approval item {raw['id']!r}: requested_at must be a timestamp")
        if requested.tzinfo is None:
            requested = requested.replace(tzinfo=UTC)
        return cls(str(raw["id"]), str(raw["kind"]), str(raw["title"]), requested, str(raw["requested_by"]), str(raw["link"]))


def _http_source() -> tuple[str, str | None]:
    from .destinations import APPROVALS

    found = resolve_credentials(APPROVALS, require=False)
    if not found.get("url"):
        raise ConfigurationError(f"No approval queue configured: {APPROVALS.how_to_configure(['url', 'token'])}")
    return found["url"], found.get("token")


@dataclass(frozen=True)
class QueueSnapshot:
    items: list[ApprovalItem]
    as_of: datetime
    """Now, as the queue sees it (its `as_of`, else this machine's clock): waiting times are measured against it."""


def read_http(url: str, token: str | None, timeout: float = 30, page_size: int = 100) -> QueueSnapshot:
    items: list[ApprovalItem] = []
    as_of: datetime | None = None
    cursor: str | None = None
    session = requests.Session()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    for _ in range(1000):  # a bound, in case a buggy source loops its cursor
        params: dict[str, str | int] = {"status": "pending", "limit": page_size}
        if cursor:
            params["cursor"] = cursor
        response = session.get(url, params=params, timeout=timeout)
        if response.status_code != 200:
            raise ApprovalSourceError(f"approval queue answered {response.status_code}: {response.text[:200]}")
        try:
            body = response.json()
            page = body["data"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ApprovalSourceError("approval queue answered something other than {data, next_cursor}") from exc
        items += [ApprovalItem.parse(raw) for raw in page]
        if as_of is None and body.get("as_of"):
            as_of = _timestamp("as_of", body["as_of"])
        cursor = body.get("next_cursor")
        if not cursor:
            return QueueSnapshot(items, as_of or datetime.now(UTC))
    raise ApprovalSourceError("approval queue pagination did not end")


def _timestamp(name: str, raw: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApprovalSourceError(f"approval queue answered a malformed {name}: {raw!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_sql(conn_id: str, sql: str) -> QueueSnapshot:
    conn = _connection(conn_id)
    if conn is None:
        raise ConfigurationError(f"Airflow Connection {conn_id!r} (APPROVALS_SQL_CONN_ID) not found")
    return QueueSnapshot([ApprovalItem.parse(tuple(row)) for row in conn.get_hook().get_records(sql)], datetime.now(UTC))


def read_queue() -> QueueSnapshot:
    source = os.environ.get("APPROVALS_SOURCE", "http").lower()
    if source == "sql":
        conn_id, sql = os.environ.get("APPROVALS_SQL_CONN_ID"), os.environ.get("APPROVALS_SQL")
        if not conn_id or not sql:
            raise ConfigurationError("APPROVALS_SOURCE=sql needs APPROVALS_SQL_CONN_ID and APPROVALS_SQL")
        return read_sql(conn_id, sql)
    if source != "http":
        raise ConfigurationError(f"APPROVALS_SOURCE must be 'http' or 'sql', got {source!r}")
    return read_http(*_http_source())


def _age(seconds: float) -> str:
    hours = int(seconds // 3600)
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def reminder_blocks(due: list[ApprovalItem], now: datetime) -> list[dict[str, Any]]:
    oldest_first = sorted(due, key=lambda i: (i.requested_at, i.id))
    lines = []
    for item in oldest_first[:MAX_LISTED]:
        waited = _age((now - item.requested_at).total_seconds())
        lines.append(
            f"• <{item.link}|{bk.escape(bk.trim(item.title, 150))}> · waiting *{waited}* · "
            f"{bk.escape(item.kind.replace('_', ' '))} by {bk.escape(item.requested_by)}"
        )
    if len(due) > MAX_LISTED:
        lines.append(f"…and {len(due) - MAX_LISTED} more.")
    return [
        bk.header(f"{len(due)} approval(s) waiting"),
        *bk.sections("\n".join(lines)),
        bk.context(f"Pending longer than the reminder threshold · as of {now.strftime('%Y-%m-%d %H:%M UTC')}"),
    ]


def queue_reminders(store: Store, settings: SlackSettings, items: list[ApprovalItem], now: datetime,
                    purpose: str = "ops") -> Message | None:
    """Enqueue one grouped reminder for the items due `now` (or nothing). Idempotent across retries."""
    threshold = settings.approval_remind_after_hours * 3600
    every = settings.approval_remind_every_hours * 3600
    at = now.timestamp()
    channel = settings.channel_for(purpose)
    with store.transaction() as conn:
        last = {r["item_id"]: r["last_reminded_at"] for r in conn.execute("select item_id, last_reminded_at from approval_reminders")}
        due = [
            i for i in items
            if at - i.requested_at.timestamp() >= threshold and (i.id not in last or at - last[i.id] >= every)
        ]
        if not due:
            return None
        digest = hashlib.sha256(",".join(sorted(i.id for i in due)).encode()).hexdigest()[:12]
        blocks = reminder_blocks(due, now)
        message = Message(key=f"approvals:{now.strftime('%Y%m%dT%H%M')}:{digest}:{channel}", purpose=purpose,
                          channel=channel, text=bk.fallback_text(blocks), blocks=blocks)
        for item in due:
            conn.execute(
                "insert into approval_reminders (item_id, first_reminded_at, last_reminded_at) values (?, ?, ?) "
                "on conflict (item_id) do update set last_reminded_at = excluded.last_reminded_at, reminders = reminders + 1",
                (item.id, at, at),
            )
        store.enqueue(message, conn)
        return message
