"""Small helpers shared by tests."""

from __future__ import annotations

import functools

import duckdb
import httpx

from pipelines.common.storage import raw_db_path


@functools.cache
def http() -> httpx.Client:
    """One HTTP client per test process. `httpx.get()` builds a client per call, and with it an SSL context that loads
    every CA certificate (about 35 ms of CPU): the conformance tests alone made 1,000 such calls. Callers pass their
    own timeout and headers."""
    return httpx.Client()


def raw_count(provider: str, table: str) -> int:
    """Rows in raw_<provider>.<table>; 0 when the table does not exist (yet)."""
    path = raw_db_path(provider)
    if not path.exists():
        return 0
    con = duckdb.connect(str(path), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [f"raw_{provider}", table],
        ).fetchone()[0]
        if not exists:
            return 0
        return con.execute(f"select count(*) from raw_{provider}.{table}").fetchone()[0]
    finally:
        con.close()


def raw_query(provider: str, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(raw_db_path(provider)), read_only=True)
    try:
        return con.execute(sql, params).fetchall() if params else con.execute(sql).fetchall()
    finally:
        con.close()
