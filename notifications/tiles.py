"""Read-only access to the published BI copy (`pipelines.common.storage.tiles_path()`, schema `tiles`).

The file is replaced atomically by `pipelines.transform.publish()`, so it is opened read-only (it never blocks the
publisher) and never kept open for long (a long-lived connection would keep reading the replaced file): per query,
or once for a short batch of queries inside `snapshot()` (a digest), which then all read one published version.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from pipelines.common.storage import tiles_path


class TileReader:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else tiles_path()
        self._tables: dict[str, set[str]] | None = None
        self._catalog: str | None = None
        self._conn: duckdb.DuckDBPyConnection | None = None

    @property
    def exists(self) -> bool:
        return self.path.exists()

    @contextmanager
    def snapshot(self) -> Iterator[TileReader]:
        """Run the block's queries on one connection: the file is opened once and read as one published version."""
        if self._conn is not None or not self.exists:
            yield self
            return
        with duckdb.connect(str(self.path), read_only=True) as conn:
            self._conn = conn
            try:
                yield self
            finally:
                self._conn = None

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        if self._conn is not None:
            return _rows(self._conn, sql, params)
        with duckdb.connect(str(self.path), read_only=True) as conn:
            return _rows(conn, sql, params)

    def ref(self, table: str) -> str:
        """Fully qualified name, so a file whose stem is also `tiles` cannot make `tiles.x` ambiguous."""
        if self._catalog is None:
            self._catalog = str(self.query("select current_database() as db")[0]["db"])
        return f'"{self._catalog}".tiles."{table}"'

    def tables(self) -> dict[str, set[str]]:
        """Tile table → its columns (cached per reader: one digest sees one published version)."""
        if self._tables is None:
            self._tables = {}
            if self.exists:
                rows = self.query(
                    "select table_name, column_name from information_schema.columns "
                    "where table_schema = 'tiles' and table_catalog = current_database()"
                )
                for row in rows:
                    self._tables.setdefault(row["table_name"], set()).add(row["column_name"])
        return self._tables

    def has(self, table: str, *columns: str) -> bool:
        found = self.tables().get(table)
        return found is not None and all(c in found for c in columns)


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params or [])
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
