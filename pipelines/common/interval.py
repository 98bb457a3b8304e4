"""The reload interval of an Airflow backfill, as every source receives it (the contract in dags/dagkit/extract.py).

A backfill run passes `interval_start` / `interval_end` (ISO 8601 with a UTC offset) as source options; a source
that reloads exactly `[start, end)` declares `interval_reload=True` in its registry entry. Each source maps the interval onto its
API's own filter; parsing and validating it is the same for all, so it lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class ReloadInterval:
    """`[start, end)` in UTC: the data interval a backfill asks the source to reload."""

    start: datetime
    end: datetime


def reload_interval(provider: str, options: Mapping[str, Any]) -> ReloadInterval | None:
    """The interval in `options`, or None for a normal incremental run. Raises ValueError (naming the provider)
    for a half-given, malformed, naive, empty or inverted interval, so a bad backfill fails before any request."""
    raw = {name: options.get(name) for name in ("interval_start", "interval_end")}
    if all(value is None for value in raw.values()):
        return None
    start, end = (_utc(provider, name, value) for name, value in raw.items())
    if not start < end:
        raise ValueError(f"{provider}: empty or inverted reload interval [{start.isoformat()}, {end.isoformat()})")
    return ReloadInterval(start, end)


def _utc(provider: str, name: str, value: Any) -> datetime:
    if value is None:
        raise ValueError(f"{provider}: a reload interval needs both interval_start and interval_end; {name} is missing")
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{provider}: option {name}={value!r} is not an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"{provider}: option {name}={value!r} has no time zone (pass UTC, e.g. 2026-10-05T00:00:00+00:00)")
    return parsed.astimezone(UTC)
