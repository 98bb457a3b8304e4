"""The Stripe section of the Slack digest: reads only Stripe's published tiles; None when they are not published."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from notifications import blocks as bk
from notifications.digest import Period, Section, currency_order, drop_line, sum_by_currency
from notifications.tiles import TileReader

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
        for currency, row in sum_by_currency(reader, summary, "transaction_date", measures, period).items():
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
            problem = drop_line(f"Stripe gross volume{suffix}", row["gross_volume"], row["prev_gross_volume"], period, fmt)
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
        for currency, amounts in sorted(paid.items(), key=lambda kv: currency_order(kv[0])):
            lines.append(f"Payouts arrived {len(amounts)} · {bk.money(sum(amounts), currency)}")
        for currency, items in sorted(upcoming.items(), key=lambda kv: currency_order(kv[0])):
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
        for currency, (latest, *rest) in sorted(by_currency.items(), key=lambda kv: currency_order(kv[0])):
            prev = rest[0]["mrr"] if rest else None
            extra = f" · {bk.number(latest['active'])} subscribers" if latest["active"] is not None else ""
            lines.append(f"MRR {bk.money(latest['mrr'], currency)}  {bk.change(latest['mrr'], prev)} vs last month{extra}")
    if not lines and not attention:
        return None
    return Section("Stripe", lines, attention)
