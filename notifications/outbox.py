"""The durable notification state: outbox, incidents and approval reminders.

A small SQLite file under the data folder, because it must survive crashes and be shared by several Airflow task
processes at once: SQLite's `BEGIN IMMEDIATE` gives cross-process transactions with no server to run, and every
writer waits for the others (busy timeout) instead of failing. WAL mode and the schema are set once, when the file is
created (`pipelines.common.sqlite_file`). DuckDB would not do here: one writer process per file.

The caller decides an idempotency key per message (digest + period + channel, alert + incident) and inserts it
together with its own state change in ONE transaction, so a key is queued once. A message is `pending` until Slack
acknowledged it (`sent`); `sending` is held only from the moment of the request to its answer (a claim). A claim
whose sender died is taken over by the next delivery (see `notifications.delivery` for what that means on each
transport: exactly once with the bot token, at least once with an incoming webhook). Nothing is ever dropped.
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

from pipelines.common.sqlite_file import connect_shared

SCHEMA = """
create table if not exists outbox (
    key text primary key,
    purpose text not null,
    channel text not null,
    text text not null,
    blocks text not null,
    status text not null default 'pending',   -- pending | sending | sent | failed (| unconfirmed: older versions)
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


_HOST = socket.gethostname()
_WORKER = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
_local = threading.local()


def _claimer_is_gone(claimed_by: str | None) -> bool:
    """True when the claim was made on this host by a process that no longer exists (it crashed: kill -9, OOM)."""
    host, _, rest = (claimed_by or "").partition(":")
    pid = rest.partition(":")[0]
    if host != _HOST or not pid.isdigit():
        return False  # another host (or an unreadable claim): only the lease can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False  # alive (or the pid was reused: then the lease decides)


@dataclass(frozen=True)
class Claim:
    """This worker now holds a message for sending. `previous` is the status it had (`sending`: its last sender
    died mid-send); `attempts` counts the earlier claims, so >0 means Slack may already have it."""

    previous: str
    attempts: int


@dataclass
class Turn:
    """One slot of a channel's pace. Marked `used` when a request went out, so only real posts space the next one."""

    waited: float
    used: bool = False


class Store:
    """Access to the state file. Cheap to construct; connections are per thread (sqlite3 objects are not shared)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._connect()  # creates the file (WAL, schema) once, whoever gets there first

    def _connect(self) -> sqlite3.Connection:
        cache: dict[str, sqlite3.Connection] = getattr(_local, "connections", None) or {}
        _local.connections = cache
        conn = cache.get(str(self.path))
        if conn is None:
            conn = connect_shared(self.path, SCHEMA)
            conn.row_factory = sqlite3.Row
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

    @staticmethod
    def _abandoned(row: sqlite3.Row, lease_seconds: float, request_seconds: float) -> bool:
        """A `sending` claim nobody will finish: older than the lease, or made by a process of this host that died
        more than one request timeout ago (a request it had sent has been answered, or dropped, by then)."""
        age = time.time() - (row["claimed_at"] or 0)
        return age > lease_seconds or (age > request_seconds and _claimer_is_gone(row["claimed_by"]))

    def deliverable(self, keys: list[str] | None, lease_seconds: float, request_seconds: float = 30.0) -> list[Message]:
        """Pending messages, plus those whose sender vanished mid-send."""
        sql = "select * from outbox where status in ('pending', 'sending')"
        params: list[Any] = []
        if keys is not None:
            sql += f" and key in ({','.join('?' * len(keys))})"
            params += keys
        rows = self._connect().execute(sql + " order by created_at, key", params).fetchall()
        return [Message.from_row(r) for r in rows
                if r["status"] == "pending" or self._abandoned(r, lease_seconds, request_seconds)]

    def claim(self, key: str, lease_seconds: float, request_seconds: float = 30.0) -> Claim | None:
        """Mark a message as being sent by this worker, right before its request. None if it is done or another
        live worker is sending it."""
        with self.transaction() as conn:
            row = conn.execute("select status, attempts, claimed_at, claimed_by from outbox where key = ?", (key,)).fetchone()
            if row is None:
                return None
            if row["status"] != "pending" and not (row["status"] == "sending" and self._abandoned(row, lease_seconds, request_seconds)):
                return None
            conn.execute(
                "update outbox set status = 'sending', claimed_at = ?, claimed_by = ?, attempts = attempts + 1 where key = ?",
                (time.time(), _WORKER, key),
            )
            return Claim(str(row["status"]), int(row["attempts"]))

    def mark_sent(self, key: str, ts: str | None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "update outbox set status = 'sent', sent_at = ?, ts = ?, error = null, claimed_at = null, claimed_by = null "
                "where key = ?", (time.time(), ts, key)
            )

    def mark(self, key: str, status: str, error: str | None) -> None:
        """`pending` (retry later) or `failed` (permanent: a human fixes the cause, then `requeue`s it)."""
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
    def channel_turn(self, channel: str, interval: float) -> Iterator[Turn]:
        """Hold `channel`'s send turn: wait until `interval` seconds after its previous post *completed*, and, if the
        turn was `used`, record this completion time. An exclusive lock file per channel serialises every thread
        and process on the host, so they all keep to one pace (spacing by completion, not start, so a slow request
        cannot make the next one arrive inside the same second). No message is claimed while waiting here."""
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in channel.lstrip("#")) or "_"
        lock_path = self.path.parent / "slack-channels" / f"{safe}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                raw = handle.read().strip()
                next_at = float(raw) if raw else 0.0
                turn = Turn(max(0.0, next_at - time.time()))
                time.sleep(turn.waited)  # the pace itself (Slack allows about one message per second per channel)
                try:
                    yield turn
                finally:
                    if turn.used:
                        handle.seek(0)
                        handle.truncate()
                        handle.write(f"{time.time() + interval:.6f}")
                        handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _joined(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    yield conn
