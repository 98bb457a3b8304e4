"""The durable notification state: outbox, incidents and approval reminders.

A small SQLite file under the data folder (WAL mode), because it must survive crashes and be shared by several
Airflow task processes at once: SQLite's `BEGIN IMMEDIATE` gives cross-process transactions with no server to run.
DuckDB would not do here: one writer process per file.

Exactly once = the caller decides an idempotency key per message (digest + period + channel, alert + incident) and
inserts it together with its own state change in ONE transaction; a key is never posted twice; a message is
`pending` until Slack acknowledged it (`sent`), so a crash before sending loses nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
create table if not exists outbox (
    key text primary key,
    purpose text not null,
    channel text not null,
    text text not null,
    blocks text not null,
    status text not null default 'pending',   -- pending | sending | sent | failed | unconfirmed
    attempts integer not null default 0,
    created_at real not null,
    claimed_at real,
    claimed_by text,
    sent_at real,
    ts text,
    error text
);
create index if not exists outbox_status on outbox (status, created_at);
create table if not exists incidents (
    id integer primary key autoincrement,
    key text not null,
    status text not null,                     -- open | resolved
    purpose text not null,
    title text not null,
    opened_at real not null,
    last_seen_at real not null,
    last_posted_at real not null,
    occurrences integer not null default 1,
    resolved_at real,
    details text not null default '{}'
);
create unique index if not exists incidents_one_open on incidents (key) where status = 'open';
create table if not exists notices (
    key text primary key,                     -- a fact posted once ever (e.g. one SLA breach)
    message_key text not null,
    purpose text not null,
    posted_at real not null
);
create table if not exists approval_reminders (
    item_id text primary key,
    first_reminded_at real not null,
    last_reminded_at real not null,
    reminders integer not null default 1
);
"""


@dataclass
class Message:
    """One Slack message: `text` is the plain-text fallback (notifications, screen readers), `blocks` the layout."""

    key: str
    purpose: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    status: str = "pending"
    ts: str | None = None
    error: str | None = None
    attempts: int = 0

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Message:
        return cls(
            key=row["key"], purpose=row["purpose"], channel=row["channel"], text=row["text"],
            blocks=json.loads(row["blocks"]), status=row["status"], ts=row["ts"], error=row["error"],
            attempts=row["attempts"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "channel": self.channel, "purpose": self.purpose, "status": self.status,
                "ts": self.ts, "text": self.text, "error": self.error}


_WORKER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
_local = threading.local()


class Store:
    """Access to the state file. Cheap to construct; connections are per thread (sqlite3 objects are not shared)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connect().executescript(SCHEMA)  # idempotent; concurrent creators wait on the busy timeout

    def _connect(self) -> sqlite3.Connection:
        cache: dict[str, sqlite3.Connection] = getattr(_local, "connections", None) or {}
        _local.connections = cache
        conn = cache.get(str(self.path))
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=True)
            conn.row_factory = sqlite3.Row
            conn.execute("pragma journal_mode=wal")
            conn.execute("pragma synchronous=full")  # an acknowledged 'sent' must survive a power cut
            cache[str(self.path)] = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that other processes wait for (`BEGIN IMMEDIATE`), committed on success."""
        conn = self._connect()
        if conn.in_transaction:  # nested use: join the outer transaction
            yield conn
            return
        conn.execute("begin immediate")
        try:
            yield conn
        except BaseException:
            conn.execute("rollback")
            raise
        conn.execute("commit")

    # --- outbox ------------------------------------------------------------------------------------------------
    def enqueue(self, message: Message, conn: sqlite3.Connection | None = None) -> bool:
        """Add a message unless its key exists. Returns True when it was new."""
        with self.transaction() if conn is None else _joined(conn) as c:
            cur = c.execute(
                "insert or ignore into outbox (key, purpose, channel, text, blocks, created_at) values (?, ?, ?, ?, ?, ?)",
                (message.key, message.purpose, message.channel, message.text, json.dumps(message.blocks), time.time()),
            )
            return cur.rowcount == 1

    def get(self, key: str) -> Message | None:
        row = self._connect().execute("select * from outbox where key = ?", (key,)).fetchone()
        return Message.from_row(row) if row else None

    def messages(self, status: str | None = None) -> list[Message]:
        sql = "select * from outbox" + (" where status = ?" if status else "") + " order by created_at, key"
        return [Message.from_row(r) for r in self._connect().execute(sql, (status,) if status else ())]

    def deliverable(self, keys: list[str] | None, lease_seconds: float) -> list[Message]:
        """Pending messages, plus those whose sender vanished mid-send (claimed longer ago than the lease)."""
        stale = time.time() - lease_seconds
        sql = "select * from outbox where (status = 'pending' or (status = 'sending' and claimed_at < ?))"
        params: list[Any] = [stale]
        if keys is not None:
            sql += f" and key in ({','.join('?' * len(keys))})"
            params += keys
        return [Message.from_row(r) for r in self._connect().execute(sql + " order by created_at, key", params)]

    def claim(self, key: str, lease_seconds: float) -> str | None:
        """Mark a message as being sent by this worker. Returns its previous status, or None if someone else has it."""
        with self.transaction() as conn:
            row = conn.execute("select status, claimed_at from outbox where key = ?", (key,)).fetchone()
            if row is None:
                return None
            stale = row["status"] == "sending" and (row["claimed_at"] or 0) < time.time() - lease_seconds
            if row["status"] != "pending" and not stale:
                return None
            conn.execute(
                "update outbox set status = 'sending', claimed_at = ?, claimed_by = ?, attempts = attempts + 1 where key = ?",
                (time.time(), _WORKER, key),
            )
            return str(row["status"])

    def extend_claim(self, key: str, until: float) -> None:
        with self.transaction() as conn:
            conn.execute("update outbox set claimed_at = ? where key = ? and claimed_by = ?", (until, key, _WORKER))

    def mark_sent(self, key: str, ts: str | None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "update outbox set status = 'sent', sent_at = ?, ts = ?, error = null where key = ?", (time.time(), ts, key)
            )

    def mark(self, key: str, status: str, error: str | None) -> None:
        """`pending` (retry later), `failed` (permanent) or `unconfirmed` (cannot know whether Slack got it)."""
        with self.transaction() as conn:
            conn.execute(
                "update outbox set status = ?, error = ?, claimed_at = null, claimed_by = null where key = ?",
                (status, error, key),
            )

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Read-only query helper (tests, health checks)."""
        return [dict(r) for r in self._connect().execute(sql, params).fetchall()]

    # --- per-channel pace --------------------------------------------------------------------------------------
    @contextmanager
    def channel_turn(self, channel: str, interval: float) -> Iterator[float]:
        """Hold `channel`'s send turn: wait until `interval` seconds after its previous post *completed*, post, and
        record the completion time. An exclusive lock file per channel serialises every thread and process on the
        host, so they all keep to one pace (spacing by completion, not start, so a slow request cannot make the next
        one arrive inside the same second). Yields the seconds waited."""
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in channel.lstrip("#")) or "_"
        lock_path = self.path.parent / "slack-channels" / f"{safe}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                raw = handle.read().strip()
                next_at = float(raw) if raw else 0.0
                waited = max(0.0, next_at - time.time())
                time.sleep(waited)
                try:
                    yield waited
                finally:
                    handle.seek(0)
                    handle.truncate()
                    handle.write(f"{time.time() + interval:.6f}")
                    handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _joined(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    yield conn
