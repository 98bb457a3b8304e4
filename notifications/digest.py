"""Daily and weekly digests: the headline number of every published tile, its change, and what needs attention.

One section per provider, in registry order: each provider's contract may declare a `digest_section` (it lives
in the provider's own folder, e.g. `pipelines/stripe/digest.py`). A section reads only its own tile tables and
returns None when they are not published (a provider not set up yet simply has no section). This module holds what
every section shares: periods, per-currency sums, the "unusual drop" rule, and the layout.

Periods: a daily digest covers one UTC day (compared with the day before), a weekly digest the 7 days ending on
`as_of` (compared with the 7 days before). `as_of` defaults to the last complete day that has data: the earlier of
yesterday (UTC, or the day before `OPSDATA_AS_OF_DATE` when the metrics are pinned) and the latest day any provider's
`last_active_day` reports (e.g. the last day with Shopify orders).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from . import blocks as bk
from .outbox import Message
from .tiles import TileReader

DROP_ALERT = Decimal("-0.30")
"""A headline falling by 30 % or more against the previous period is an unusual drop worth a look."""
MIN_BASE_FOR_DROP = Decimal("100")
"""…unless the previous period was tiny (a drop from $40 to $20 is noise)."""


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date
    """Inclusive."""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> Period:
        return Period(self.kind, self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    @property
    def label(self) -> str:
        if self.days == 1:
            return self.end.strftime("%a %-d %b %Y")
        return f"{self.start.strftime('%-d %b')} – {self.end.strftime('%-d %b %Y')}"

    @property
    def compared_with(self) -> str:
        return "previous day" if self.kind == "daily" else "previous 7 days"

    @classmethod
    def for_kind(cls, kind: str, as_of: date) -> Period:
        if kind == "daily":
            return cls(kind, as_of, as_of)
        if kind == "weekly":
            return cls(kind, as_of - timedelta(days=6), as_of)
        raise ValueError(f"digest kind must be 'daily' or 'weekly', got {kind!r}")


@dataclass
class Section:
    title: str
    lines: list[str]
    attention: list[str] = field(default_factory=list)
    url: str | None = None
    """The provider's dashboard page; the section title links to it."""


def dashboard_url(provider: str) -> str | None:
    """The provider's dashboard page, if it has one: `OPSDATA_DASHBOARD_URL` (default http://localhost:8501, what
    `make dashboard` serves; set it empty for no links) + `/<provider>`."""
    from pipelines.registry import get_provider

    base = os.environ.get("OPSDATA_DASHBOARD_URL", "http://localhost:8501").strip().rstrip("/")
    try:
        has_page = get_provider(provider).dashboard_page is not None
    except KeyError:
        return None
    return f"{base}/{provider}" if base and has_page else None


SectionBuilder = Callable[[TileReader, Period], Section | None]


def sum_by_currency(reader: TileReader, table: str, date_col: str, cols: list[str], period: Period) -> dict[str, dict[str, Any]]:
    """Per currency: {col: current-period sum, f"prev_{col}": previous-period sum} for a daily tile."""
    prev = period.previous
    has_currency = reader.has(table, "currency")
    cur_expr = "currency" if has_currency else "'USD'"
    sums = ", ".join(
        f"sum(case when {date_col} between ? and ? then {c} end) as \"{c}\", "
        f"sum(case when {date_col} between ? and ? then {c} end) as \"prev_{c}\""
        for c in cols
    )
    params: list[Any] = []
    for _ in cols:
        params += [period.start, period.end, prev.start, prev.end]
    rows = reader.query(
        f"select {cur_expr} as currency, {sums} from {reader.ref(table)} "
        f"where {date_col} between ? and ? group by 1 order by 1",
        [*params, prev.start, period.end],
    )
    return {r["currency"]: r for r in sorted(rows, key=lambda r: currency_order(r["currency"]))}


def currency_order(currency: Any) -> tuple[bool, str]:
    """The shop's currency (USD) first, then the others alphabetically."""
    return str(currency).upper() != "USD", str(currency).upper()


def drop_line(label: str, current: Any, previous: Any, period: Period, fmt: Callable[[Any], str],
          min_base: Decimal = MIN_BASE_FOR_DROP) -> str | None:
    ratio = bk.ratio_change(current, previous)
    if ratio is not None and ratio <= DROP_ALERT and Decimal(str(previous)) >= min_base:
        return f"{label} fell {abs(ratio) * 100:.0f}% vs the {period.compared_with} ({fmt(current)} vs {fmt(previous)})"
    return None


def today_utc() -> date:
    """Today, or the pinned metrics date `OPSDATA_AS_OF_DATE` (the demo pins it to the sandbox world's today)."""
    pinned = os.environ.get("OPSDATA_AS_OF_DATE", "").strip()
    return date.fromisoformat(pinned[:10]) if pinned else datetime.now(UTC).date()


def registered_sections() -> list[tuple[str, SectionBuilder]]:
    """(provider, section builder) for every registered provider that declares one, in registry order."""
    from pipelines.registry import extraction_providers

    return [(p.name, p.digest_section) for p in extraction_providers() if p.digest_section is not None]


def default_as_of(reader: TileReader, today: date | None = None) -> date:
    """The earlier of yesterday (UTC) and the latest day with activity that any provider reports."""
    from pipelines.registry import extraction_providers

    yesterday = (today or today_utc()) - timedelta(days=1)
    active = [day for p in extraction_providers() if p.last_active_day is not None
              and (day := p.last_active_day(reader)) is not None]
    if active and max(active) < yesterday:
        return max(active)
    return yesterday


@dataclass
class Digest:
    period: Period
    sections: list[Section]
    blocks: list[dict[str, Any]]

    @property
    def title(self) -> str:
        return _title(self.period)

    def messages(self, channel: str, purpose: str = "ops") -> list[Message]:
        """The digest as Slack messages, split within limits. Keys = digest + period + channel (+ part)."""
        pages = bk.paginate(self.blocks, self.title)
        base = f"digest:{self.period.kind}:{self.period.start}:{self.period.end}:{channel}"
        out = []
        for n, page in enumerate(pages, start=1):
            key = base if len(pages) == 1 else f"{base}:part{n}"
            out.append(Message(key=key, purpose=purpose, channel=channel, text=bk.fallback_text(page), blocks=page))
        return out

    def render_text(self) -> str:
        return "\n".join(bk.block_text(b) for b in self.blocks)


def _title(period: Period) -> str:
    return f"{'Daily' if period.kind == 'daily' else 'Weekly'} digest · {period.label}"


def build_digest(kind: str, as_of: date | None = None, reader: TileReader | None = None,
                 builders: list[tuple[str, SectionBuilder]] | None = None) -> Digest:
    reader = reader or TileReader()
    with reader.snapshot():  # bi.duckdb opened once: every section reads the same published version
        as_of = as_of or default_as_of(reader)
        period = Period.for_kind(kind, as_of)
        found: list[Section] = []
        for provider, builder in builders or registered_sections():
            section = builder(reader, period)
            if section is not None:
                section.url = section.url or dashboard_url(provider)
                found.append(section)
    prev = period.previous
    out: list[dict[str, Any]] = [
        bk.header(_title(period)),
        bk.context(f"Compared with the {period.compared_with} ({prev.label}) · from the published tiles"),
    ]
    attention = [item for s in found for item in s.attention]
    if attention:
        out += bk.sections("*:warning: Needs attention*\n" + "\n".join(f"• {bk.escape(a)}" for a in attention))
    elif found:
        out += bk.sections(":white_check_mark: Nothing unusual.")
    for section in found:
        out.append(bk.divider())
        title = f"<{section.url}|{section.title}>" if section.url else section.title
        out += bk.sections(f"*{title}*\n" + "\n".join(section.lines))
    if not found:
        out += bk.sections("No tiles are published yet: the transform has not run, or no provider is set up.")
    return Digest(period, found, out)
