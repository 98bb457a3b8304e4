"""Provider health: stale data (no successful load within the allowed age), and failure classification.

Freshness comes from dlt's own load ledger, `_dlt_loads` (status 0 = loaded) in each `raw_<provider>.duckdb`. The
file is opened read-only; while the provider's pipeline is writing it, DuckDB refuses a reader, and that is not a
health problem: the check reports `busy` and tries again on its next run.

Task failures are classified from their exception: authentication failures and rate-limit storms become
provider-level incidents (`provider:<name>:auth`, `provider:<name>:rate_limited`), so repeats across tasks and runs
fold into one incident; anything else is a task incident (`task:<dag>.<task>`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from pipelines.common.storage import raw_db_path
from pipelines.registry import extraction_providers

# "rejected the credentials" is how the shared HTTP layer's CredentialsRejected begins, whatever the status (Graph says
# it with a 400 and code 190).
_AUTH = re.compile(r"\b(401|403)\b|rejected the credentials|unauthori[sz]ed|forbidden|invalid[_ ](api[_ ]key|auth|token)|authentication|not_authed|token_revoked", re.I)
_RATE = re.compile(r"\b429\b|too many requests|rate[_ ]?limit|throttl", re.I)


@dataclass
class Freshness:
    provider: str
    status: str
    """fresh | stale | never | busy"""
    last_loaded_at: datetime | None = None
    detail: str = ""


def last_successful_load(provider: str) -> Freshness:
    path = raw_db_path(provider)
    if not path.exists():
        return Freshness(provider, "never", detail=f"{path.name} does not exist yet")
    try:
        with duckdb.connect(str(path), read_only=True) as conn:
            found = conn.execute(
                "select table_schema from information_schema.tables where table_name = '_dlt_loads' order by 1 limit 1"
            ).fetchone()
            if found is None:
                return Freshness(provider, "never", detail="no dlt load has completed")
            row = conn.execute(f'select max(inserted_at) from "{found[0]}"._dlt_loads where status = 0').fetchone()
    except duckdb.Error as exc:  # another process holds the write lock: not a health problem
        return Freshness(provider, "busy", detail=str(exc).splitlines()[0])
    loaded = row[0] if row else None
    if loaded is None:
        return Freshness(provider, "never", detail="no successful dlt load")
    if loaded.tzinfo is None:
        loaded = loaded.replace(tzinfo=UTC)
    return Freshness(provider, "fresh", loaded)


def max_age_hours(provider: str, default: float) -> float:
    """`<PROVIDER>_STALE_AFTER_HOURS` overrides the global `OPSDATA_STALE_AFTER_HOURS` for one provider."""
    raw = os.environ.get(f"{provider.upper()}_STALE_AFTER_HOURS", "").strip()
    return float(raw) if raw else default


def freshness(now: datetime, default_max_age_hours: float, providers: list[str] | None = None) -> list[Freshness]:
    names = providers if providers is not None else [p.name for p in extraction_providers()]
    out = []
    for name in names:
        found = last_successful_load(name)
        allowed = max_age_hours(name, default_max_age_hours)
        if found.status == "fresh" and found.last_loaded_at is not None:
            age = (now - found.last_loaded_at).total_seconds() / 3600
            if age > allowed:
                found.status = "stale"
                found.detail = f"last successful load {age:.1f} h ago (allowed: {allowed:g} h)"
        out.append(found)
    return out


def provider_of(dag_id: str) -> str | None:
    for prefix in ("extract_", "reconcile_"):
        if dag_id.startswith(prefix):
            return dag_id[len(prefix) :]
    return None


def classify_failure(dag_id: str, task_id: str, error: str) -> tuple[str, str]:
    """(incident key, kind) for a task failure: kind is auth | rate_limited | task."""
    provider = provider_of(dag_id)
    if provider:
        if _AUTH.search(error):
            return f"provider:{provider}:auth", "auth"
        if _RATE.search(error):
            return f"provider:{provider}:rate_limited", "rate_limited"
    return f"task:{dag_id}.{task_id}", "task"
