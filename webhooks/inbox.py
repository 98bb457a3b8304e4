"""A durable inbox for webhook events: a SQLite file under the data folder, one row per (provider, event id).

Why SQLite: the receiver must commit before it answers 2xx and must survive a crash; DuckDB allows one writer per
file and the raw files belong to the pipelines. SQLite in WAL mode with `synchronous=FULL` gives durable, concurrent
single-row commits (WAL set once, when the file is created: `pipelines.common.sqlite_file`); the unique key on
(provider, event_id) makes a redelivered event a no-op.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipelines.common.sqlite_file import connect_shared
from pipelines.common.storage import data_dir

SCHEMA = """
create table if not exists inbox (
    seq integer primary key autoincrement,
    provider text not null,
    event_id text not null,
    event_type text,
    created integer,
    received_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    payload text not null,
    unique (provider, event_id)
)
"""


@dataclass(frozen=True)
class InboxRow:
    seq: int
    provider: str
    event_id: str
    event_type: str | None
    created: int | None
    received_at: str
    payload: str


def default_path() -> Path:
    return data_dir() / "webhooks" / "inbox.sqlite"


class Inbox:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_path()  # created on first use: importing the plugin touches no disk

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = connect_shared(self.path, SCHEMA)
        try:
            yield conn
        finally:
            conn.close()

    def add(self, provider: str, event_id: str, event_type: str | None, created: int | None, payload: str) -> bool:
        """Store an event; True if it was new, False if this (provider, event id) was already stored."""
        with self._connect() as conn:
            cursor = conn.execute(
                "insert into inbox (provider, event_id, event_type, created, payload) values (?, ?, ?, ?, ?) "
                "on conflict (provider, event_id) do nothing",
                (provider, event_id, event_type, created, payload),
            )
            return cursor.rowcount == 1

    def after(self, provider: str, seq: int, limit: int = 1000) -> list[InboxRow]:
        """Events stored after sequence number `seq`, in arrival order."""
        with self._connect() as conn:
            rows = conn.execute(
                "select seq, provider, event_id, event_type, created, received_at, payload from inbox "
                "where provider = ? and seq > ? order by seq limit ?",
                (provider, seq, limit),
            ).fetchall()
        return [InboxRow(*row) for row in rows]

    def prune(self, provider: str, upto_seq: int) -> int:
        """Forget events up to `upto_seq`: only call with a cursor that was committed with the loaded data."""
        with self._connect() as conn:
            return conn.execute("delete from inbox where provider = ? and seq <= ?", (provider, upto_seq)).rowcount

    def count(self, provider: str | None = None) -> int:
        with self._connect() as conn:
            if provider is None:
                return int(conn.execute("select count(*) from inbox").fetchone()[0])
            return int(conn.execute("select count(*) from inbox where provider = ?", (provider,)).fetchone()[0])
