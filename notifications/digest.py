"""Daily and weekly digests: the headline number of every published tile, its change, and what needs attention.

One section per provider, built by a small registry of section builders (`SECTIONS`). A builder reads only its own
tile tables and returns None when they are not published (a provider not set up yet simply has no section), so
adding Zendesk or Meta later is one function and one registry line.

Periods: a daily digest covers one UTC day (compared with the day before), a weekly digest the 7 days ending on
`as_of` (compared with the 7 days before). `as_of` defaults to the last complete day that has data: the earlier of
yesterday (UTC, or the day before `OPSDATA_AS_OF_DATE` when the metrics are pinned) and the last day with Shopify
orders in the tiles.
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
REFUND_SHARE_ALERT = Decimal("0.10")


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


SectionBuilder = Callable[[TileReader, Period], Section | None]


def _sum_by_currency(reader: TileReader, table: str, date_col: str, cols: list[str], period: Period) -> dict[str, dict[str, Any]]:
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
    return {r["currency"]: r for r in sorted(rows, key=lambda r: _currency_order(r["currency"]))}


def _currency_order(currency: Any) -> tuple[bool, str]:
    """The shop's currency (USD) first, then the others alphabetically."""
    return str(currency).upper() != "USD", str(currency).upper()


def _drop(label: str, current: Any, previous: Any, period: Period, fmt: Callable[[Any], str],
          min_base: Decimal = MIN_BASE_FOR_DROP) -> str | None:
    ratio = bk.ratio_change(current, previous)
    if ratio is not None and ratio <= DROP_ALERT and Decimal(str(previous)) >= min_base:
        return f"{label} fell {abs(ratio) * 100:.0f}% vs the {period.compared_with} ({fmt(current)} vs {fmt(previous)})"
    return None


# --- Shopify ----------------------------------------------------------------------------------------------------
def shopify_section(reader: TileReader, period: Period) -> Section | None:
    table = "shopify_sales_daily"
    if not reader.has(table, "order_date", "currency", "orders_count", "net_sales"):
        return None
    cols = ["orders_count", "net_sales", "total_sales", "refunds", "new_customers", "returning_customers"]
    cols = [c for c in cols if reader.has(table, c)]
    lines: list[str] = []
    attention: list[str] = []
    for currency, row in _sum_by_currency(reader, table, "order_date", cols, period).items():
        def fmt(v: Any, c: str = currency) -> str:
            return bk.money(v, c)

        suffix = f" ({currency})" if currency != "USD" else ""
        lines.append(f"*Net sales{suffix}* {fmt(row['net_sales'])}  {bk.change(row['net_sales'], row['prev_net_sales'])}")
        orders, prev_orders = row["orders_count"] or 0, row["prev_orders_count"] or 0
        lines.append(f"Orders {bk.number(orders)}  {bk.change(orders, prev_orders)}")
        if "total_sales" in row and orders:
            aov = Decimal(str(row["total_sales"] or 0)) / orders
            prev_aov = Decimal(str(row["prev_total_sales"] or 0)) / prev_orders if prev_orders else None
            lines.append(f"Average order {fmt(aov)}  {bk.change(aov, prev_aov)}")
        if "new_customers" in row:
            lines.append(f"Customers: {bk.number(row['new_customers'])} new, {bk.number(row.get('returning_customers'))} returning")
        if "refunds" in row and row["refunds"]:
            lines.append(f"Refunds {fmt(row['refunds'])}  {bk.change(row['refunds'], row['prev_refunds'])}")
        for problem in (
            _drop(f"Shopify net sales{suffix}", row["net_sales"], row["prev_net_sales"], period, fmt),
            _drop(f"Shopify orders{suffix}", orders, prev_orders, period, bk.number, min_base=Decimal(10)),
        ):
            if problem:
                attention.append(problem)
        total = Decimal(str(row.get("total_sales") or 0))
        refunds = Decimal(str(row.get("refunds") or 0))
        if total > 0 and refunds / total >= REFUND_SHARE_ALERT:
            attention.append(f"Shopify refunds{suffix} were {refunds / total * 100:.0f}% of sales ({fmt(refunds)})")
    if not lines:
        return None
    return Section("Shopify", lines, attention)


# --- Stripe -----------------------------------------------------------------------------------------------------
FAILED_PAYOUT_DAYS = 7
"""A failed payout stays on the attention list for a week after it was created (the tile has no failure time, and
money that did not reach the bank needs someone to act)."""


# Columns as published by dbt_project/models/tiles/stripe/*.yml. Currencies are lower case there (Stripe's way).
def stripe_section(reader: TileReader, period: Period) -> Section | None:
    lines: list[str] = []
    attention: list[str] = []
    summary = "stripe_financial_summary"
    if reader.has(summary, "transaction_date", "currency", "gross_volume", "net"):
        measures = [c for c in ("gross_volume", "net", "refunds", "stripe_fees", "dispute_losses", "charges_count") if reader.has(summary, c)]
        for currency, row in _sum_by_currency(reader, summary, "transaction_date", measures, period).items():
            def fmt(v: Any, c: str = currency) -> str:
                return bk.money(v, c)

            code = str(currency).upper()
            suffix = f" ({code})" if code != "USD" else ""
            if not row["gross_volume"] and not row["net"] and not row["prev_gross_volume"]:
                continue  # a currency with no activity in either period is noise
            extras = [f"{label} {fmt(row[col])}" for col, label in (("refunds", "refunds"), ("stripe_fees", "fees")) if row.get(col)]
            net = f"{fmt(row['net'])}  {bk.change(row['net'], row['prev_net'])}" + (f" ({', '.join(extras)})" if extras else "")
            if not row["gross_volume"] and not row["prev_gross_volume"]:
                lines.append(f"Net{suffix} {net}")  # no sales either period: only refunds or fees moved money
            else:
                line = f"*Gross volume{suffix}* {fmt(row['gross_volume'])}  {bk.change(row['gross_volume'], row['prev_gross_volume'])}"
                if "charges_count" in row:
                    line += f" · {bk.number(row['charges_count'])} charges"
                lines += [line, f"Net {net}"]
            problem = _drop(f"Stripe gross volume{suffix}", row["gross_volume"], row["prev_gross_volume"], period, fmt)
            if problem:
                attention.append(problem)
            if (row.get("dispute_losses") or 0) > 0:
                attention.append(f"Lost {fmt(row['dispute_losses'])} to Stripe disputes")
    payouts = "stripe_payouts"
    if reader.has(payouts, "payout_id", "arrival_date", "created_date", "currency", "amount", "status"):
        message = "failure_message" if reader.has(payouts, "failure_message") else "null"
        rows = reader.query(
            f"select payout_id, currency, amount, status, arrival_date, {message} as failure_message from {reader.ref(payouts)} "
            "where (status = 'failed' and created_date between ? and ?) "
            "or (status = 'paid' and arrival_date between ? and ?) "
            "or status in ('pending', 'in_transit') order by arrival_date, payout_id",
            [min(period.start, period.end - timedelta(days=FAILED_PAYOUT_DAYS - 1)), period.end, period.start, period.end],
        )
        paid: dict[str, list[Decimal]] = {}
        upcoming: dict[str, list[Any]] = {}
        for r in rows:
            if r["status"] == "paid":
                paid.setdefault(r["currency"], []).append(r["amount"])
            elif r["status"] == "failed":
                why = f": {r['failure_message']}" if r["failure_message"] else ""
                attention.append(f"Stripe payout {r['payout_id']} of {bk.money(r['amount'], r['currency'])} failed{why}")
            else:
                upcoming.setdefault(r["currency"], []).append(r)
        for currency, amounts in sorted(paid.items(), key=lambda kv: _currency_order(kv[0])):
            lines.append(f"Payouts arrived {len(amounts)} · {bk.money(sum(amounts), currency)}")
        for currency, items in sorted(upcoming.items(), key=lambda kv: _currency_order(kv[0])):
            first = items[0]["arrival_date"]
            lines.append(f"On the way {bk.money(sum(i['amount'] for i in items), currency)} (next arrives {first:%a %-d %b})")
    disputes = "stripe_disputes"
    if reader.has(disputes, "dispute_id", "created_date", "currency", "amount"):
        has_left = reader.has(disputes, "days_left_for_evidence")
        reason = "reason" if reader.has(disputes, "reason") else "null"
        rows = reader.query(
            f"select dispute_id, created_date, currency, amount, {reason} as reason, "
            f"{'days_left_for_evidence' if has_left else 'null'} as days_left from {reader.ref(disputes)} "
            f"where created_date between ? and ? {'or days_left_for_evidence is not null' if has_left else ''} "
            "order by created_date, dispute_id",
            [period.start, period.end],
        )
        new = [r for r in rows if period.start <= r["created_date"] <= period.end]
        for r in new:
            why = f" ({str(r['reason']).replace('_', ' ')})" if r["reason"] else ""
            attention.append(f"New Stripe dispute {r['dispute_id']}: {bk.money(r['amount'], r['currency'])}{why}")
        if new:
            lines.append(f"New disputes {len(new)}")
        for r in rows:
            if r["days_left"] is not None and r["days_left"] <= 3:
                when = "overdue" if r["days_left"] < 0 else f"due in {r['days_left']} day(s)"
                attention.append(f"Evidence for dispute {r['dispute_id']} ({bk.money(r['amount'], r['currency'])}) is {when}")
    subs = "stripe_subscription_metrics"
    if reader.has(subs, "month_start", "currency", "mrr"):
        active = "active_subscribers" if reader.has(subs, "active_subscribers") else "null"
        rows = reader.query(
            f"select currency, month_start, mrr, {active} as active from {reader.ref(subs)} where month_start <= ? "
            "qualify row_number() over (partition by currency order by month_start desc) <= 2 order by currency, month_start desc",
            [period.end],
        )
        by_currency: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_currency.setdefault(r["currency"], []).append(r)
        for currency, (latest, *rest) in sorted(by_currency.items(), key=lambda kv: _currency_order(kv[0])):
            prev = rest[0]["mrr"] if rest else None
            extra = f" · {bk.number(latest['active'])} subscribers" if latest["active"] is not None else ""
            lines.append(f"MRR {bk.money(latest['mrr'], currency)}  {bk.change(latest['mrr'], prev)} vs last month{extra}")
    if not lines and not attention:
        return None
    return Section("Stripe", lines, attention)


# --- Klaviyo ----------------------------------------------------------------------------------------------------
# Columns as published by dbt_project/models/tiles/klaviyo/_klaviyo__tiles.yml (revenue there is USD).
SPAM_RATE_ALERT = Decimal("0.003")
"""Gmail's and Yahoo's bulk-sender rule: keep spam complaints below 0.3 % of delivered mail."""


def klaviyo_section(reader: TileReader, period: Period) -> Section | None:
    lines: list[str] = []
    attention: list[str] = []
    campaigns = "klaviyo_campaign_performance"
    if reader.has(campaigns, "send_date", "delivered", "unique_opens", "unique_clicks"):
        revenue = "sum(attributed_revenue)" if reader.has(campaigns, "attributed_revenue") else "null"
        spam = "sum(spam_complaints)" if reader.has(campaigns, "spam_complaints") else "0"
        prev = period.previous
        rows = reader.query(
            f"select send_date between ? and ? as current, count(*) as n, sum(delivered) as delivered, "
            f"sum(unique_opens) as opens, sum(unique_clicks) as clicks, {revenue} as revenue, {spam} as spam "
            f"from {reader.ref(campaigns)} where send_date between ? and ? group by 1",
            [period.start, period.end, prev.start, period.end],
        )
        now = next((r for r in rows if r["current"]), None)
        before = next((r for r in rows if not r["current"]), None)
        if now and now["n"]:
            delivered = Decimal(now["delivered"] or 0)
            lines.append(f"*Campaigns sent* {bk.number(now['n'])} · {bk.number(delivered)} delivered")
            if delivered:
                lines.append(f"Open rate {bk.percent(Decimal(now['opens'] or 0) / delivered)} · click rate {bk.percent(Decimal(now['clicks'] or 0) / delivered)}")
                if Decimal(now["spam"] or 0) / delivered >= SPAM_RATE_ALERT:
                    attention.append(f"Klaviyo spam complaints at {bk.percent(Decimal(now['spam']) / delivered, 2)} of delivered email (limit 0.3%)")
            if now["revenue"] is not None:
                versus = f"  {bk.change(now['revenue'], before['revenue'])}" if before and before["n"] else ""
                lines.append(f"Attributed revenue {bk.money(now['revenue'], 'USD')}{versus}")
        elif period.kind == "weekly":
            lines.append("No campaigns sent")
    segments = "klaviyo_segment_health"
    if reader.has(segments, "group_name", "metric_date", "profile_count"):
        growth = "new_members" if reader.has(segments, "new_members") else "null"
        rows = reader.query(
            f"select group_name, profile_count, (select sum({growth}) from {reader.ref(segments)} s2 "
            f"where s2.group_name = s.group_name and s2.metric_date between ? and ?) as joined "
            f"from {reader.ref(segments)} s where metric_date = ? order by profile_count desc, group_name limit 3",
            [period.start, period.end, period.end],
        )
        if rows:
            lines.append("Largest segments: " + ", ".join(
                f"{bk.escape(str(r['group_name']))} {bk.number(r['profile_count'])}" + (f" (+{bk.number(r['joined'])})" if r["joined"] else "")
                for r in rows
            ))
    stages = "klaviyo_lifecycle_stages"
    if reader.has(stages, "lifecycle_stage", "customers"):
        order = "stage_order" if reader.has(stages, "stage_order") else "lifecycle_stage"
        rows = reader.query(f"select lifecycle_stage, customers from {reader.ref(stages)} order by {order}")
        if rows:
            lines.append("Customers by stage: " + " · ".join(
                f"{str(r['lifecycle_stage']).replace('_', ' ')} {bk.number(r['customers'])}" for r in rows
            ))
    if not lines:
        return None
    return Section("Klaviyo", lines, attention)


SECTIONS: list[tuple[str, SectionBuilder]] = [
    ("shopify", shopify_section),
    ("stripe", stripe_section),
    ("klaviyo", klaviyo_section),
]
"""Provider → section builder, in digest order. A builder returns None when its tiles are not published."""


def today_utc() -> date:
    """Today, or the pinned metrics date `OPSDATA_AS_OF_DATE` (the demo pins it to the sandbox world's today)."""
    pinned = os.environ.get("OPSDATA_AS_OF_DATE", "").strip()
    return date.fromisoformat(pinned[:10]) if pinned else datetime.now(UTC).date()


def default_as_of(reader: TileReader, today: date | None = None) -> date:
    """The earlier of yesterday (UTC) and the last day with Shopify orders in the tiles."""
    yesterday = (today or today_utc()) - timedelta(days=1)
    if reader.has("shopify_sales_daily", "order_date", "orders_count"):
        last = reader.query(f"select max(order_date) as d from {reader.ref('shopify_sales_daily')} where orders_count > 0")[0]["d"]
        if last is not None and last < yesterday:
            return last
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
        for _provider, builder in builders or SECTIONS:
            section = builder(reader, period)
            if section is not None:
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
        out += bk.sections(f"*{section.title}*\n" + "\n".join(section.lines))
    if not found:
        out += bk.sections("No tiles are published yet: the transform has not run, or no provider is set up.")
    return Digest(period, found, out)
