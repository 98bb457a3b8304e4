"""Reading the published copy `data/bi.duckdb`, and nothing else.

The file is swapped atomically by `pipelines.transform.publish()`. It is opened read-only and only for the length
of one query (never kept open), so the dashboard never blocks the publisher or a pipeline, and a new publish is
picked up on the next query. Results are cached per (query, file version): the cache key includes the file's
modification time and size, so a new snapshot invalidates every cached result at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines.common.storage import tiles_path


def bi_path() -> Path:
    """The published copy (`OPSDATA_DATA_DIR/bi.duckdb`), without creating the data folder."""
    explicit = os.environ.get("OPSDATA_BI_PATH")
    return Path(explicit) if explicit else tiles_path()


def snapshot_version(path: Path | None = None) -> tuple[float, int] | None:
    """(mtime, size) of the published file, or None when nothing is published yet."""
    path = path or bi_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime, stat.st_size


def _read(path: str, version: tuple[float, int] | None, sql: str, params: tuple[Any, ...]) -> pd.DataFrame:
    with duckdb.connect(path, read_only=True) as con:
        return con.execute(sql, list(params)).df()


import streamlit as st  # noqa: E402 - Streamlit's cache (a plain call outside a running app)

_cached_read = st.cache_data(ttl=600, show_spinner=False, max_entries=256)(_read)


def query(sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    """Run one read-only query on the published copy (cached for this file version)."""
    path = bi_path()
    return _cached_read(str(path), snapshot_version(path), sql, tuple(params))


def tables() -> dict[str, set[str]]:
    """`schema.table` -> its columns, for the published copy (empty when nothing is published)."""
    if snapshot_version() is None:
        return {}
    df = query("select table_schema || '.' || table_name as t, column_name as c from information_schema.columns "
               "where table_catalog = current_database()")
    out: dict[str, set[str]] = {}
    for t, c in zip(df["t"], df["c"], strict=True):
        out.setdefault(t, set()).add(c)
    return out


def has(table: str, *columns: str) -> bool:
    found = tables().get(table)
    return found is not None and all(c in found for c in columns)


@dataclass(frozen=True)
class Freshness:
    """How fresh a provider's data is, from dbt's `source freshness` (the last dlt load of each raw table)."""

    provider: str
    last_loaded_at: datetime | None
    status: str | None
    """dbt's worst status over the provider's source tables: pass, warn, error (or runtime error)."""
    checked_at: datetime | None
    warn_after: str | None

    def describe(self, now: datetime | None = None) -> str:
        if self.last_loaded_at is None:
            return "Freshness unknown: dbt source freshness has not been published for this provider yet."
        now = now or datetime.now(UTC)
        age = now - self.last_loaded_at
        hours = age.total_seconds() / 3600
        ago = f"{int(age.total_seconds() // 60)} min" if hours < 1 else f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.0f} days"
        verdict = {"pass": "fresh", "warn": "getting stale", "error": "stale"}.get(self.status or "", self.status or "")
        limit = f", warn after {self.warn_after}" if self.warn_after else ""
        return f"Data last loaded {self.last_loaded_at:%Y-%m-%d %H:%M} UTC ({ago} ago) · dbt source freshness: {verdict}{limit}"


SEVERITY = {"pass": 0, "warn": 1, "error": 2, "runtime error": 3}


def freshness(provider: str) -> Freshness:
    if not has("ops.source_freshness", "provider", "max_loaded_at", "status"):
        return Freshness(provider, None, None, None, None)
    df = query("select max_loaded_at, status, snapshotted_at, warn_after from ops.source_freshness where provider = ?",
               (provider,))
    if df.empty or df["max_loaded_at"].isna().all():
        return Freshness(provider, None, None, None, None)
    worst = max(df["status"].fillna("runtime error"), key=lambda s: SEVERITY.get(s, 3))
    loaded = pd.Timestamp(df["max_loaded_at"].max()).to_pydatetime()
    checked = pd.Timestamp(df["snapshotted_at"].max()).to_pydatetime()
    return Freshness(provider, loaded.astimezone(UTC), worst, checked.astimezone(UTC), df["warn_after"].dropna().iloc[0] if df["warn_after"].notna().any() else None)
