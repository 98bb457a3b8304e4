"""SQLite files that many threads and processes write at once (the Slack outbox, the webhook inbox).

SQLite serialises writers itself, and a writer that finds the file locked waits up to the busy timeout. Two things do
not wait, though, and both used to surface as `sqlite3.OperationalError: database is locked` when several Airflow
tasks opened a fresh file together:

- `pragma journal_mode=wal` needs the file to itself, and fails at once rather than wait while another connection
  holds it open; WAL mode is persistent (stored in the file), so it is set exactly once, when the file is created;
- the `create table if not exists` script runs at creation too, not on every open.

Creation happens under an exclusive `fcntl.flock` on a sibling `.init.lock` file (released by the OS if the holder
dies) and is recorded in `pragma user_version`, so every later open is a plain connect that never changes the file.
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
from pathlib import Path

log = logging.getLogger("opsdata.sqlite")

BUSY_TIMEOUT_SECONDS = 60.0


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("pragma user_version").fetchone()[0])


def _create(path: Path, schema: str, version: int, timeout: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".init.lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # one creator at a time; the others wait here, then find it done
            log.info("%s is being created by another process: waiting for it", path.name)
            fcntl.flock(lock, fcntl.LOCK_EX)
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        try:
            if _version(conn) < version:
                conn.execute("pragma journal_mode=wal")
                conn.executescript(schema)
                conn.execute(f"pragma user_version = {int(version)}")
        finally:
            conn.close()


def connect_shared(path: Path, schema: str, *, version: int = 1, timeout: float = BUSY_TIMEOUT_SECONDS,
                   check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection to `path` (created with `schema` and WAL on first use): autocommit, so callers open their own
    transactions (`begin immediate` for writes), every lock waited for up to `timeout` seconds, `synchronous=full`
    so a committed row survives a power cut. Bump `version` when `schema` gains a table or an index."""
    path = Path(path)
    if not path.exists():
        _create(path, schema, version, timeout)
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=check_same_thread)
    try:
        if _version(conn) < version:  # an older file, or one whose creator has not finished: create under the lock
            _create(path, schema, version, timeout)
        conn.execute("pragma synchronous=full")
    except BaseException:
        conn.close()
        raise
    return conn
