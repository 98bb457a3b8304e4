"""Stripe tile values computed straight from the sandbox world's objects (never from the warehouse).

MRR here comes from the subscriptions' true version history (`SubVersion`), not from invoices as the models do, so
agreement checks the models' reconstruction, not a copy of it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from sandbox.stripe.world import OPEN_DISPUTE_STATUSES, StripeWorld

ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}


def major(cents: int | Fraction, currency: str) -> Decimal:
    """Cents (possibly fractional) to major units, rounded half up to the cent as the tile does."""
    whole = (
        Decimal(int((Decimal(cents.numerator) / Decimal(cents.denominator)).to_integral_value(ROUND_HALF_UP)))
        if isinstance(cents, Fraction)
        else Decimal(cents)
    )
    return whole if currency in ZERO_DECIMAL else (whole / 100).quantize(Decimal("0.01"))


def _ts(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _months(first: date, as_of: date) -> list[tuple[date, int]]:
    """(month start, snapshot instant) from `first`'s month to the as-of month (snapshot = as-of midnight there)."""
    out = []
    m = date(first.year, first.month, 1)
    while m < as_of:
        nxt = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
        out.append((m, min(_ts(nxt), _ts(as_of))))
        m = nxt
    return out


def subscription_metrics(sw: StripeWorld, as_of: date) -> dict[tuple[date, str], dict[str, Any]]:
    now = sw.now
    subs = [s for s in sw.subscriptions.values() if s.created <= now]
    first = min(datetime.fromtimestamp(s.created, UTC).date() for s in subs)
    months = _months(first, as_of)
    currencies = {s.currency for s in subs}
    customer_mrr: dict[tuple[str, str], list[Fraction]] = defaultdict(lambda: [Fraction(0)] * len(months))
    for sub in subs:
        for i, (_, t) in enumerate(months):
            customer_mrr[(sub.customer, sub.currency)][i] += sw.subscription_mrr_before(sub, min(t, now + 1))
    out: dict[tuple[date, str], dict[str, Any]] = {}
    for i, (month, _) in enumerate(months):
        for currency in currencies:
            row = defaultdict(Fraction, active=0, new=0, churned=0, reactivated=0)
            for (_customer, cur), series in customer_mrr.items():
                if cur != currency:
                    continue
                now_mrr, prior = series[i], series[i - 1] if i else Fraction(0)
                had_before = any(v > 0 for v in series[:i])
                row["mrr"] += now_mrr
                row["active"] += now_mrr > 0
                if prior == 0 and now_mrr > 0:
                    if had_before:
                        row["reactivation_mrr"] += now_mrr
                        row["reactivated"] += 1
                    else:
                        row["new_mrr"] += now_mrr
                        row["new"] += 1
                elif prior > 0 and now_mrr == 0:
                    row["churned_mrr"] += prior
                    row["churned"] += 1
                elif now_mrr > prior:
                    row["expansion_mrr"] += now_mrr - prior
                elif now_mrr < prior:
                    row["contraction_mrr"] += prior - now_mrr
            out[(month, currency)] = dict(row)
    return out


def financial_summary(sw: StripeWorld, as_of: date) -> dict[tuple[date, str], dict[str, Decimal]]:
    sums: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for b in sw.balance_transactions.values():
        day = datetime.fromtimestamp(b.created, UTC).date()
        if b.created > sw.now or day > as_of:
            continue
        row = sums[(day, b.currency)]
        payout = b.reporting_category in ("payout", "payout_reversal")
        if b.type in ("charge", "payment"):
            row["gross_volume"] += b.amount
        if b.type in ("refund", "payment_refund"):
            row["refunds"] -= b.amount
        if b.reporting_category in ("dispute", "dispute_reversal"):
            row["dispute_losses"] -= b.amount
        if not payout:
            row["stripe_fees"] += b.fee
            row["net"] += b.net
        else:
            row["payouts"] -= b.amount
    return {k: {c: major(v, k[1]) for c, v in row.items()} for k, row in sums.items()}


def payouts(sw: StripeWorld, as_of: date) -> dict[str, dict[str, Any]]:
    out = {}
    for p in sw.payouts.values():
        if p.created > sw.now or datetime.fromtimestamp(p.created, UTC).date() > as_of:
            continue
        status = p.status_at(sw.now)
        out[p.id] = {
            "amount": major(p.amount, p.currency),
            "currency": p.currency,
            "status": status,
            "arrival_date": datetime.fromtimestamp(p.arrival_date, UTC).date(),
            "is_upcoming": status in ("pending", "in_transit"),
            "failure_code": p.failure_code if status == "failed" else None,
        }
    return out


def disputes(sw: StripeWorld, as_of: date) -> dict[str, dict[str, Any]]:
    out = {}
    for d in sw.disputes.values():
        if d.created > sw.now:
            continue
        status = d.status_at(sw.now)
        due = datetime.fromtimestamp(d.due_by, UTC)
        out[d.id] = {
            "amount": major(d.amount, d.currency),
            "currency": d.currency,
            "reason": d.reason,
            "status": status,
            "is_open": status in OPEN_DISPUTE_STATUSES,
            "evidence_due_at": due.replace(tzinfo=None),
            "days_left_for_evidence": (due.date() - as_of).days if status == "needs_response" else None,
        }
    return out


def as_of_date(sw: StripeWorld) -> date:
    """The as-of date the tests pin: the world's current day (UTC)."""
    return (datetime.fromtimestamp(sw.now, UTC) - timedelta(seconds=0)).date()
