"""Stripe's part of the synthetic business: the merchant's coffee subscription club, billed by Stripe.

Built deterministically on the world's customers (same emails): a share of them subscribe. Every object is a
time-stamped history, so the simulator shows the account as of `world.now`:

- products and prices: monthly, quarterly, annual and weekly plans in usd/eur/gbp, a free tasting plan, a metered
  add-on (usage billed in arrears) and one-off fees;
- coupons: percent and amount, once / repeating / forever;
- subscriptions as versions (`SubVersion`): trials, upgrades and downgrades (price change on the same item), quantity
  changes, add-on items, cancellation at period end and immediately, failed payments (past_due, then recovered or
  canceled), and reactivations (a churned customer subscribes again later);
- invoices with lines exactly as Stripe bills them (`proration_behavior=always_invoice`: a mid-period change makes an
  invoice with an "Unused time" credit line and a "Remaining time" line), charges, refunds (full and partial),
  disputes (won, lost, open with an evidence deadline), balance transactions and weekly payouts (paid, pending,
  in transit, failed);
- an event for every change, carrying the object as it was at that moment.

Ground truth for the tests is `mrr_at(t)` etc. over these versions: not over the invoices the pipeline reads.
"""

from __future__ import annotations

import bisect
import calendar
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from sandbox.world.core import World, stable_rng

DAY = 86400
API_VERSION = "2026-10-28.endive"
EVENT_RETENTION_DAYS = 30
SUBSCRIBER_SHARE = {"loyal": 0.7, "casual": 0.4, "one_time": 0.12, "churner": 0.5}
CHURN_PER_MONTH = {"loyal": 0.02, "casual": 0.07, "one_time": 0.2, "churner": 0.22}
COUNTRY_CURRENCY = {"US": "usd", "CA": "usd", "GB": "gbp", "DE": "eur", "FR": "eur"}
FEES = {"usd": (0.029, 30), "eur": (0.015, 25), "gbp": (0.015, 20)}
DISPUTE_FEE = 1500
MRR_STATUSES = ("active", "past_due")
PAYOUT_WEEKDAY_OFFSET = {"usd": 0, "eur": 2, "gbp": 4}
PAYOUT_TRANSIT_DAYS = 5
OPEN_DISPUTE_STATUSES = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")

# (key, product key, currency, unit_amount, interval, interval_count, usage_type)
PRICES = (
    ("club_m_usd", "club", "usd", 2500, "month", 1, "licensed"),
    ("club_m_eur", "club", "eur", 2300, "month", 1, "licensed"),
    ("club_m_gbp", "club", "gbp", 2000, "month", 1, "licensed"),
    ("club_q_usd", "club", "usd", 6900, "month", 3, "licensed"),
    ("club_y_usd", "club", "usd", 24000, "year", 1, "licensed"),
    ("club_y_eur", "club", "eur", 22000, "year", 1, "licensed"),
    ("espresso_m_usd", "espresso", "usd", 4500, "month", 1, "licensed"),
    ("espresso_m_eur", "espresso", "eur", 4200, "month", 1, "licensed"),
    ("espresso_m_gbp", "espresso", "gbp", 3800, "month", 1, "licensed"),
    ("drop_w_usd", "drop", "usd", 900, "week", 1, "licensed"),
    ("tasting_m_usd", "tasting", "usd", 0, "month", 1, "licensed"),
    ("tasting_m_eur", "tasting", "eur", 0, "month", 1, "licensed"),
    ("extra_bag_usd", "extra_bag", "usd", 300, "month", 1, "metered"),
    ("setup_usd", "setup", "usd", 1500, None, None, None),
)
PRODUCTS = {
    "club": "Northwind Coffee Club",
    "espresso": "Espresso Club",
    "drop": "Weekly Fresh Drop",
    "tasting": "Free Tasting Plan",
    "extra_bag": "Extra Bag (metered)",
    "setup": "Grinder calibration (one-off)",
}
# (id, name, percent_off, amount_off, currency, duration, duration_in_months)
COUPONS = (
    ("LOYAL10", "10% off forever", 10.0, None, None, "forever", None),
    ("FIVEOFF", "$5 off forever", None, 500, "usd", "forever", None),
    ("WELCOME50", "50% off first invoice", 50.0, None, None, "once", None),
    ("SPRING20", "20% off for 3 months", 20.0, None, None, "repeating", 3),
    ("EIGHTOFF", "$8 off for 2 months", None, 800, "usd", "repeating", 2),
)


_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_CHARS = bytes(ord(_ID_ALPHABET[b % 62]) for b in range(256))
"""Digest byte -> id character, for `bytes.translate` (renderers derive ids per object: a Python loop costs more)."""


def sid(prefix: str, *parts: Any, length: int = 14) -> str:
    """A Stripe-looking id, stable for its labels."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return f"{prefix}_" + digest[:length].translate(_ID_CHARS).decode()


def ts(dt: datetime) -> int:
    return int(dt.timestamp())


def add_months(anchor: int, months: int) -> int:
    """Stripe's calendar billing: same day-of-month as the anchor, clamped to the month's length."""
    dt = datetime.fromtimestamp(anchor, UTC)
    month0 = dt.month - 1 + months
    year, month = dt.year + month0 // 12, month0 % 12 + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return ts(dt.replace(year=year, month=month, day=day))


@dataclass(frozen=True, slots=True)
class Price:
    id: str
    key: str
    product: str
    currency: str
    unit_amount: int
    interval: str | None
    interval_count: int | None
    usage_type: str | None
    created: int

    @property
    def recurring(self) -> bool:
        return self.interval is not None

    def next_period(self, start: int) -> int:
        if self.interval == "week":
            return start + 7 * DAY * (self.interval_count or 1)
        months = (self.interval_count or 1) * (12 if self.interval == "year" else 1)
        return add_months(start, months)

    def monthly_cents(self) -> Fraction:
        """Monthly-normalised unit amount in cents (annual / 12, quarterly / 3, weekly x 52 / 12)."""
        count = self.interval_count or 1
        if self.interval == "year":
            return Fraction(self.unit_amount, 12 * count)
        if self.interval == "week":
            return Fraction(self.unit_amount * 52, 12 * count)
        return Fraction(self.unit_amount, count)

    @property
    def months_per_interval(self) -> Fraction:
        count = self.interval_count or 1
        return {"year": Fraction(12 * count), "week": Fraction(12 * count, 52)}.get(
            self.interval or "", Fraction(count)
        )


@dataclass(frozen=True, slots=True)
class Coupon:
    id: str
    name: str
    percent_off: float | None
    amount_off: int | None
    currency: str | None
    duration: str
    duration_in_months: int | None
    created: int


@dataclass(slots=True)
class Customer:
    id: str
    world_customer_id: int
    email: str
    name: str
    phone: str | None
    currency: str
    country: str
    city: str
    created: int


@dataclass(slots=True)
class Discount:
    id: str
    coupon: str
    customer: str
    subscription: str
    start: int
    end: int | None


@dataclass(slots=True)
class Item:
    id: str
    price: str
    quantity: int
    created: int


@dataclass(slots=True)
class SubVersion:
    at: int
    status: str
    items: list[Item]
    period: tuple[int, int]
    discounts: list[str]
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    canceled_at: int | None = None
    ended_at: int | None = None
    cancellation_reason: str | None = None
    latest_invoice: str | None = None
    change: str = "created"
    """What changed at `at` (for event types and previous_attributes)."""


@dataclass(slots=True)
class Subscription:
    id: str
    customer: str
    currency: str
    created: int
    trial_start: int | None
    trial_end: int | None
    versions: list[SubVersion] = field(default_factory=list)

    def at(self, t: int) -> SubVersion | None:
        """The version in effect at `t` (changes stamped <= t)."""
        stamps = [v.at for v in self.versions]
        i = bisect.bisect_right(stamps, t) - 1
        return self.versions[i] if i >= 0 else None

    def before(self, t: int) -> SubVersion | None:
        """The version in effect just before `t` (changes stamped < t): month-end snapshots use this."""
        stamps = [v.at for v in self.versions]
        i = bisect.bisect_left(stamps, t) - 1
        return self.versions[i] if i >= 0 else None


@dataclass(slots=True)
class Line:
    id: str
    amount: int
    price: str
    quantity: int
    period: tuple[int, int]
    proration: bool
    subscription_item: str | None
    description: str
    kind: str = "subscription_item_details"
    discount_amounts: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class Invoice:
    id: str
    number: str
    customer: str
    subscription: str | None
    currency: str
    created: int
    billing_reason: str
    lines: list[Line]
    period: tuple[int, int]
    discounts: list[str] = field(default_factory=list)
    paid_at: int | None = None
    failed_attempts: list[int] = field(default_factory=list)
    voided_at: int | None = None
    charge: str | None = None

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def total(self) -> int:
        return max(0, self.subtotal - sum(a for line in self.lines for _, a in line.discount_amounts))


@dataclass(slots=True)
class Charge:
    id: str
    customer: str
    invoice: str | None
    amount: int
    currency: str
    created: int
    status: str
    failure_code: str | None = None
    balance_transaction: str | None = None
    refunds: list[str] = field(default_factory=list)
    dispute: str | None = None


@dataclass(slots=True)
class Refund:
    id: str
    charge: str
    amount: int
    currency: str
    created: int
    reason: str | None
    balance_transaction: str


@dataclass(slots=True)
class BalanceTransaction:
    id: str
    amount: int
    fee: int
    currency: str
    created: int
    available_on: int
    type: str
    reporting_category: str
    source: str
    description: str | None

    @property
    def net(self) -> int:
        return self.amount - self.fee


@dataclass(slots=True)
class Dispute:
    id: str
    charge: str
    amount: int
    currency: str
    created: int
    reason: str
    due_by: int
    transitions: list[tuple[int, str]]
    balance_transactions: list[tuple[int, str]] = field(default_factory=list)

    def status_at(self, t: int) -> str:
        status = self.transitions[0][1]
        for at, value in self.transitions:
            if at <= t:
                status = value
        return status


@dataclass(slots=True)
class Payout:
    id: str
    amount: int
    currency: str
    created: int
    arrival_date: int
    transitions: list[tuple[int, str]]
    balance_transaction: str
    failure_code: str | None = None
    failure_message: str | None = None
    failure_balance_transaction: str | None = None
    transactions: list[str] = field(default_factory=list)
    """The balance transactions this automatic payout paid out (what `/v1/balance_transactions?payout=` lists)."""

    def status_at(self, t: int) -> str:
        status = self.transitions[0][1]
        for at, value in self.transitions:
            if at <= t:
                status = value
        return status


@dataclass(slots=True)
class PaymentIntent:
    """The PaymentIntent behind an invoice's charges: every attempt (failed or not) on one invoice is a charge of it."""

    id: str
    invoice: str
    customer: str
    amount: int
    currency: str
    created: int
    charges: list[str]


@dataclass(slots=True)
class PaymentMethod:
    """The card each customer pays with (the default payment method of their invoices)."""

    id: str
    customer: str
    created: int
    fingerprint: str


@dataclass(slots=True)
class Event:
    id: str
    created: int
    type: str
    kind: str
    object_id: str
    previous_attributes: dict[str, Any] | None = None


@dataclass
class StripeWorld:
    world: World
    account_created: int
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    prices: dict[str, Price] = field(default_factory=dict)
    coupons: dict[str, Coupon] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    discounts: dict[str, Discount] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    balance_transactions: dict[str, BalanceTransaction] = field(default_factory=dict)
    disputes: dict[str, Dispute] = field(default_factory=dict)
    payouts: dict[str, Payout] = field(default_factory=dict)
    payment_intents: dict[str, PaymentIntent] = field(default_factory=dict)
    payment_methods: dict[str, PaymentMethod] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    _derived_ids: dict[tuple[str, str], str] = field(default_factory=dict, repr=False, compare=False)
    """Ids derived by hashing, kept: several are named in every charge, invoice and payment intent rendered."""

    def payment_intent_of_charge(self, charge_id: str) -> str | None:
        invoice = self.charges[charge_id].invoice
        return self.payment_intent_id(invoice) if invoice else None

    def payment_intent_id(self, invoice_id: str) -> str:
        """The id the invoice's PaymentIntent has, if it has one (`_payment_objects`: once it has a charge)."""
        found = self._derived_ids.get(("pi", invoice_id))
        if found is None:
            found = self._derived_ids[("pi", invoice_id)] = sid("pi", invoice_id)
        return found

    def payment_method_of(self, customer_id: str) -> str:
        found = self._derived_ids.get(("pm", customer_id))
        if found is None:
            found = self._derived_ids[("pm", customer_id)] = sid("pm", customer_id, length=24)
        return found

    @property
    def now(self) -> int:
        return ts(self.world.now)

    def price_by_key(self, key: str) -> Price:
        return next(p for p in self.prices.values() if p.key == key)

    # --- ground truth helpers (used by tests; independent of the invoices the pipeline reads) -------------------
    def subscription_mrr_before(self, sub: Subscription, t: int) -> Fraction:
        """Stripe's MRR of one subscription just before `t`, in cents: active/past_due only, licensed recurring items,
        quantity included, forever coupons only."""
        version = sub.before(t)
        if version is None or version.status not in MRR_STATUSES:
            return Fraction(0)
        total = Fraction(0)
        months = Fraction(1)
        for item in version.items:
            price = self.prices[item.price]
            if price.usage_type != "licensed":
                continue
            total += price.monthly_cents() * item.quantity
            months = price.months_per_interval
        for discount_id in version.discounts:
            discount = self.discounts[discount_id]
            coupon = self.coupons[discount.coupon]
            if coupon.duration != "forever" or discount.start >= t:
                continue
            if coupon.percent_off is not None:
                total -= total * Fraction(str(coupon.percent_off)) / 100
            elif coupon.amount_off is not None:
                total -= Fraction(coupon.amount_off) / months
        return max(total, Fraction(0))


# ----------------------------------------------------------------------------------------------------------------
# generation
# ----------------------------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, world: World) -> None:
        self.world = world
        self.label = (world.seed, world.scale.name, "stripe")
        self.sw = StripeWorld(world=world, account_created=ts(world.start_time) - 30 * DAY)
        self.end = ts(world.end_time)
        self.counter = 0
        self.invoice_number = 0
        # The small (test) world has few customers: subscribe and dispute more of them so every tile and every MRR
        # movement is populated; larger worlds keep realistic rates.
        self.richness = 1.5 if world.scale.name == "small" else 1.0

    def new_id(self, prefix: str, length: int = 14) -> str:
        self.counter += 1
        return sid(prefix, *self.label, self.counter, length=length)

    def event(
        self, created: int, type_: str, kind: str, object_id: str, previous: dict[str, Any] | None = None
    ) -> None:
        if created <= self.end:
            self.sw.events.append(Event(self.new_id("evt", 24), created, type_, kind, object_id, previous))

    # --- catalogue ---------------------------------------------------------------------------------------------
    def catalogue(self) -> None:
        t = self.sw.account_created
        for key, name in PRODUCTS.items():
            pid = sid("prod", *self.label, key)
            self.sw.products[pid] = {"id": pid, "key": key, "name": name, "created": t, "type": "service"}
            self.event(t, "product.created", "product", pid)
        for i, (key, product, currency, amount, interval, count, usage) in enumerate(PRICES):
            price = Price(
                sid("price", *self.label, key, length=24),
                key,
                sid("prod", *self.label, product),
                currency,
                amount,
                interval,
                count,
                usage,
                t + 60 + i,
            )
            self.sw.prices[price.id] = price
            self.event(price.created, "price.created", "price", price.id)
        for i, (cid, name, pct, amt, cur, duration, months) in enumerate(COUPONS):
            self.sw.coupons[cid] = Coupon(cid, name, pct, amt, cur, duration, months, t + 600 + i)
            self.event(t + 600 + i, "coupon.created", "coupon", cid)

    # --- customers and subscriptions ---------------------------------------------------------------------------
    def customers(self) -> None:
        for wc in self.world.customers:
            rng = stable_rng(*self.label, "customer", wc.id)
            if rng.random() >= SUBSCRIBER_SHARE[wc.segment] * self.richness:
                continue
            currency = COUNTRY_CURRENCY.get(wc.country_code, "usd")
            start = ts(wc.created_at) + int(rng.uniform(600, 20 * DAY))
            if start >= self.end - DAY:
                continue
            cus = Customer(
                sid("cus", *self.label, wc.id),
                wc.id,
                wc.email,
                f"{wc.first_name} {wc.last_name}",
                wc.phone,
                currency,
                wc.country_code,
                wc.city,
                start - 300,
            )
            self.sw.customers[cus.id] = cus
            self.event(cus.created, "customer.created", "customer", cus.id)
            t: int | None = start
            first = True
            while t is not None and t < self.end:
                ended = self.subscription(cus, wc.segment, t, rng, first)
                first = False
                if ended is None or rng.random() > (0.45 if wc.segment != "one_time" else 0.2):
                    break
                t = ended + int(rng.uniform(35, 150) * DAY)  # a reactivation, at least a month later

    def pick_price(self, currency: str, rng: Any) -> Price:
        options = [("club_m", 50), ("club_q", 10), ("club_y", 12), ("espresso_m", 15), ("drop_w", 6), ("tasting_m", 7)]
        available = [(k, w) for k, w in options if any(p.key == f"{k}_{currency}" for p in self.sw.prices.values())]
        key = rng.choices([k for k, _ in available], [w for _, w in available])[0]
        return self.sw.price_by_key(f"{key}_{currency}")

    def subscription(self, cus: Customer, segment: str, start: int, rng: Any, first: bool) -> int | None:
        """Simulate one subscription from `start`; return when it ended (None if still running at the horizon)."""
        price = self.pick_price(cus.currency, rng)
        sub = Subscription(self.new_id("sub", 24), cus.id, cus.currency, start, None, None)
        self.sw.subscriptions[sub.id] = sub
        trial = price.unit_amount > 0 and rng.random() < 0.3
        if trial:
            sub.trial_start, sub.trial_end = start, start + 14 * DAY
        items = [Item(self.new_id("si"), price.id, rng.choices((1, 2, 3), (70, 22, 8))[0], start)]
        if cus.currency == "usd" and price.interval == "month" and price.unit_amount > 0 and rng.random() < 0.12:
            items.append(Item(self.new_id("si"), self.sw.price_by_key("extra_bag_usd").id, 1, start))
        discounts: list[str] = []
        roll = rng.random()
        coupon_id = None
        if roll < 0.12:
            coupon_id = "LOYAL10"
        elif roll < 0.2 and cus.currency == "usd":
            coupon_id = "FIVEOFF"
        elif roll < 0.3 and not trial:
            coupon_id = "WELCOME50"
        elif roll < 0.38:
            coupon_id = "SPRING20" if cus.currency != "usd" or rng.random() < 0.5 else "EIGHTOFF"
        if coupon_id:
            discounts.append(self.discount(coupon_id, cus, sub, start))
        period_end = start + 14 * DAY if trial else price.next_period(start)
        status = "trialing" if trial else "active"
        version = SubVersion(start, status, items, (start, period_end), discounts)
        sub.versions.append(version)
        invoice = self.cycle_invoice(sub, version, start, "subscription_create", trial=trial)
        version.latest_invoice = invoice.id
        self.event(start, "customer.subscription.created", "subscription", sub.id)
        self.pay(invoice, sub, rng, first_invoice=True)
        if first and rng.random() < 0.08 and cus.currency == "usd":
            self.one_off_invoice(cus, start + int(rng.uniform(1, 20) * DAY))
        churn = CHURN_PER_MONTH[segment]
        period_start = start
        while True:
            v = sub.versions[-1]
            if v.status == "canceled":
                return v.ended_at
            period_start, period_end = v.period
            if period_end > self.end:
                # Still running at the horizon; a change may still happen inside the current period.
                self.maybe_change(sub, rng, period_start, period_end, churn)
                return sub.versions[-1].ended_at
            if self.maybe_change(sub, rng, period_start, period_end, churn):
                continue
            v = sub.versions[-1]
            if v.cancel_at_period_end:
                self.version(sub, period_end, "deleted", status="canceled", ended_at=period_end)
                return period_end
            self.renew(sub, period_end, rng)

    def discount(self, coupon_id: str, cus: Customer, sub: Subscription, start: int) -> str:
        coupon = self.sw.coupons[coupon_id]
        end = add_months(start, coupon.duration_in_months or 1) if coupon.duration == "repeating" else None
        did = self.new_id("di", 24)
        self.sw.discounts[did] = Discount(did, coupon_id, cus.id, sub.id, start, end)
        return did

    def version(self, sub: Subscription, at: int, change: str, **changes: Any) -> SubVersion:
        prev = sub.versions[-1]
        new = SubVersion(
            at=at,
            status=changes.get("status", prev.status),
            items=changes.get("items", prev.items),
            period=changes.get("period", prev.period),
            discounts=changes.get("discounts", prev.discounts),
            cancel_at_period_end=changes.get("cancel_at_period_end", prev.cancel_at_period_end),
            cancel_at=changes.get("cancel_at", prev.cancel_at),
            canceled_at=changes.get("canceled_at", prev.canceled_at),
            ended_at=changes.get("ended_at", prev.ended_at),
            cancellation_reason=changes.get("cancellation_reason", prev.cancellation_reason),
            latest_invoice=changes.get("latest_invoice", prev.latest_invoice),
            change=change,
        )
        sub.versions.append(new)
        previous = {
            k: _plain(getattr(prev, k))
            for k in changes
            if k in ("status", "cancel_at_period_end", "cancel_at", "canceled_at", "ended_at", "latest_invoice")
        }
        if "items" in changes:
            previous["items"] = "changed"
        if "period" in changes:
            previous["current_period"] = "changed"
        self.event(
            at,
            "customer.subscription.deleted" if change == "deleted" else "customer.subscription.updated",
            "subscription",
            sub.id,
            previous or None,
        )
        return new

    def maybe_change(self, sub: Subscription, rng: Any, start: int, end: int, churn: float) -> bool:
        """At most one change inside a billing period. Returns True if the subscription ended immediately."""
        v = sub.versions[-1]
        months = float((end - start) / (30.4 * DAY))
        at = start + int(rng.uniform(0.15, 0.85) * (end - start))
        if at > self.end or v.status == "trialing":
            if v.status == "trialing" and rng.random() < 0.25 and at <= self.end:
                # Trial not converted: canceled at trial end.
                self.version(sub, at, "updated", cancel_at_period_end=True, cancel_at=end, canceled_at=at)
            return False
        roll = rng.random()
        if roll < 1 - (1 - churn) ** months:
            if rng.random() < 0.5:
                self.version(
                    sub,
                    at,
                    "updated",
                    cancel_at_period_end=True,
                    cancel_at=end,
                    canceled_at=at,
                    cancellation_reason="cancellation_requested",
                )
                return False
            self.version(
                sub,
                at,
                "deleted",
                status="canceled",
                canceled_at=at,
                ended_at=at,
                cancellation_reason="cancellation_requested",
            )
            return True
        if roll < 1 - (1 - churn) ** months + 0.12 * min(months, 3):
            self.plan_change(sub, at, rng)
        return False

    def plan_change(self, sub: Subscription, at: int, rng: Any) -> None:
        v = sub.versions[-1]
        main: Item = v.items[0]
        price = self.sw.prices[main.price]
        kind = rng.choice(("quantity_up", "quantity_down", "switch", "addon"))
        items = list(v.items)
        old_new: list[tuple[Item | None, Item | None]] = []
        if kind == "quantity_down" and main.quantity == 1:
            kind = "quantity_up"
        if kind == "switch":
            # Club <-> Espresso on the same interval (an upgrade or a downgrade), same subscription item id.
            other = {"club_m": "espresso_m", "espresso_m": "club_m"}.get(price.key.rsplit("_", 1)[0])
            if other is None:
                kind = "quantity_up"
            else:
                new = Item(main.id, self.sw.price_by_key(f"{other}_{sub.currency}").id, main.quantity, main.created)
                items[0] = new
                old_new.append((main, new))
        if kind == "addon":
            addon_key = f"espresso_m_{sub.currency}"
            if (
                price.interval != "month"
                or price.interval_count != 1
                or any(self.sw.prices[i.price].key == addon_key for i in items)
            ):
                kind = "quantity_up"
            else:
                new = Item(self.new_id("si"), self.sw.price_by_key(addon_key).id, 1, at)
                items.append(new)
                old_new.append((None, new))
        if kind in ("quantity_up", "quantity_down"):
            changed = Item(main.id, main.price, main.quantity + (1 if kind == "quantity_up" else -1), main.created)
            items[0] = changed
            old_new.append((main, changed))
        start, end = v.period
        lines: list[Line] = []
        for before, after in old_new:
            fraction = Fraction(end - at, end - start)
            if before is not None:
                p = self.sw.prices[before.price]
                lines.append(
                    Line(
                        self.new_id("il", 24),
                        -round(p.unit_amount * before.quantity * fraction),
                        p.id,
                        before.quantity,
                        (at, end),
                        True,
                        before.id,
                        f"Unused time on {before.quantity} × {self.sw.products[p.product]['name']}",
                    )
                )
            if after is not None:
                p = self.sw.prices[after.price]
                lines.append(
                    Line(
                        self.new_id("il", 24),
                        round(p.unit_amount * after.quantity * fraction),
                        p.id,
                        after.quantity,
                        (at, end),
                        True,
                        after.id,
                        f"Remaining time on {after.quantity} × {self.sw.products[p.product]['name']}",
                    )
                )
        invoice = self.invoice(sub.customer, sub.id, sub.currency, at, "subscription_update", lines, (at, at))
        self.version(sub, at, "updated", items=items, latest_invoice=invoice.id)
        self.pay(invoice, sub, rng)

    def renew(self, sub: Subscription, at: int, rng: Any) -> None:
        v = sub.versions[-1]
        main_price = self.sw.prices[v.items[0].price]
        end = main_price.next_period(at)
        changes: dict[str, Any] = {"period": (at, end)}
        if v.status == "trialing":
            changes["status"] = "active"
        active_discounts = [d for d in v.discounts if self._discount_live(d, at)]
        if active_discounts != v.discounts:
            changes["discounts"] = active_discounts
        new = self.version(sub, at, "updated", **changes)
        invoice = self.cycle_invoice(sub, new, at, "subscription_cycle", previous_period=v.period)
        new.latest_invoice = invoice.id
        self.pay(invoice, sub, rng)

    def _discount_live(self, discount_id: str, at: int) -> bool:
        d = self.sw.discounts[discount_id]
        return d.end is None or d.end > at

    def cycle_invoice(
        self,
        sub: Subscription,
        v: SubVersion,
        at: int,
        reason: str,
        trial: bool = False,
        previous_period: tuple[int, int] | None = None,
    ) -> Invoice:
        lines: list[Line] = []
        for item in v.items:
            price = self.sw.prices[item.price]
            name = self.sw.products[price.product]["name"]
            if price.usage_type == "metered":
                if previous_period is None:
                    continue
                usage = stable_rng(*self.label, "usage", item.id, at).randint(0, 4)
                lines.append(
                    Line(
                        self.new_id("il", 24),
                        price.unit_amount * usage,
                        price.id,
                        usage,
                        previous_period,
                        False,
                        item.id,
                        f"{usage} × {name}",
                    )
                )
                continue
            amount = 0 if trial else price.unit_amount * item.quantity
            label = f"Trial period for {name}" if trial else f"{item.quantity} × {name}"
            lines.append(Line(self.new_id("il", 24), amount, price.id, item.quantity, v.period, False, item.id, label))
        invoice = self.invoice(sub.customer, sub.id, sub.currency, at, reason, lines, v.period)
        subtotal = invoice.subtotal
        for discount_id in v.discounts:
            discount = self.sw.discounts[discount_id]
            coupon = self.sw.coupons[discount.coupon]
            if subtotal <= 0 or not self._discount_live(discount_id, at):
                continue
            if coupon.duration == "once" and reason != "subscription_create":
                continue
            off = (
                round(subtotal * coupon.percent_off / 100)
                if coupon.percent_off is not None
                else min(subtotal, coupon.amount_off or 0)
            )
            lines[0].discount_amounts.append((discount_id, off))
            invoice.discounts.append(discount_id)
        return invoice

    def invoice(
        self,
        customer: str,
        subscription: str | None,
        currency: str,
        at: int,
        reason: str,
        lines: list[Line],
        period: tuple[int, int],
    ) -> Invoice:
        self.invoice_number += 1
        invoice = Invoice(
            self.new_id("in", 24),
            f"NWR-{self.invoice_number:06d}",
            customer,
            subscription,
            currency,
            at,
            reason,
            lines,
            period,
        )
        self.sw.invoices[invoice.id] = invoice
        self.event(at, "invoice.created", "invoice", invoice.id)
        self.event(at, "invoice.finalized", "invoice", invoice.id)
        return invoice

    def one_off_invoice(self, cus: Customer, at: int) -> None:
        if at > self.end:
            return
        price = self.sw.price_by_key("setup_usd")
        line = Line(
            self.new_id("il", 24),
            price.unit_amount,
            price.id,
            1,
            (at, at),
            False,
            None,
            PRODUCTS["setup"],
            kind="invoice_item_details",
        )
        invoice = self.invoice(cus.id, None, cus.currency, at, "manual", [line], (at, at))
        self.pay(invoice, None, stable_rng(*self.label, "oneoff", invoice.id))

    def pay(self, invoice: Invoice, sub: Subscription | None, rng: Any, first_invoice: bool = False) -> None:
        """Collect the invoice. Subscription renewals can fail: past_due, retried, recovered or canceled."""
        at = invoice.created + 3600
        if invoice.total <= 0:
            invoice.paid_at = invoice.created
            self.event(invoice.created, "invoice.paid", "invoice", invoice.id)
            return
        failing = (
            sub is not None
            and not first_invoice
            and invoice.billing_reason == "subscription_cycle"
            and rng.random() < 0.08
        )
        if failing and sub is not None:
            self.charge(invoice, at, "failed")
            invoice.failed_attempts.append(at)
            self.event(at, "invoice.payment_failed", "invoice", invoice.id, {"attempt_count": 0})
            self.version(sub, at, "updated", status="past_due")
            retry = at + 3 * DAY
            if rng.random() < 0.7:
                self._paid(invoice, retry)
                self.version(sub, retry, "updated", status="active")
            else:
                self.charge(invoice, retry, "failed")
                invoice.failed_attempts.append(retry)
                self.event(retry, "invoice.payment_failed", "invoice", invoice.id, {"attempt_count": 1})
                end = retry + 4 * DAY
                invoice.voided_at = end
                self.event(end, "invoice.voided", "invoice", invoice.id, {"status": "open"})
                self.version(
                    sub,
                    end,
                    "deleted",
                    status="canceled",
                    canceled_at=end,
                    ended_at=end,
                    cancellation_reason="payment_failed",
                )
            return
        self._paid(invoice, at)

    def _paid(self, invoice: Invoice, at: int) -> None:
        charge = self.charge(invoice, at, "succeeded")
        invoice.paid_at = at
        invoice.charge = charge.id
        self.event(at, "invoice.paid", "invoice", invoice.id, {"status": "open"})

    def charge(self, invoice: Invoice, at: int, status: str) -> Charge:
        charge = Charge(
            self.new_id("ch", 24), invoice.customer, invoice.id, invoice.total, invoice.currency, at, status
        )
        if status == "failed":
            charge.failure_code = "card_declined"
        self.sw.charges[charge.id] = charge
        self.event(at, f"charge.{status}", "charge", charge.id)
        if status == "succeeded":
            pct, fixed = FEES[invoice.currency]
            fee = round(invoice.total * pct) + fixed
            charge.balance_transaction = self.bt(
                invoice.total, fee, invoice.currency, at, "charge", "charge", charge.id, "Subscription payment"
            )
        return charge

    def bt(
        self,
        amount: int,
        fee: int,
        currency: str,
        at: int,
        type_: str,
        category: str,
        source: str,
        description: str | None,
        available_days: int = 2,
    ) -> str:
        txn = BalanceTransaction(
            self.new_id("txn", 24),
            amount,
            fee,
            currency,
            at,
            at + available_days * DAY,
            type_,
            category,
            source,
            description,
        )
        self.sw.balance_transactions[txn.id] = txn
        return txn.id

    # --- after-sale: refunds, disputes, payouts ------------------------------------------------------------------
    def refunds_and_disputes(self) -> None:
        for charge in sorted(self.sw.charges.values(), key=lambda c: c.created):
            if charge.status != "succeeded":
                continue
            rng = stable_rng(*self.label, "aftersale", charge.id)
            roll = rng.random()
            if roll < 0.05 * self.richness:
                at = charge.created + int(rng.uniform(2, 20) * DAY)
                amount = charge.amount if rng.random() < 0.5 else charge.amount // 2
                if at > self.end:
                    continue
                rid = self.new_id("re", 24)
                txn = self.bt(
                    -amount, 0, charge.currency, at, "refund", "refund", rid, "REFUND FOR CHARGE", available_days=0
                )
                self.sw.refunds[rid] = Refund(
                    rid,
                    charge.id,
                    amount,
                    charge.currency,
                    at,
                    rng.choice(("requested_by_customer", "duplicate", None)),
                    txn,
                )
                charge.refunds.append(rid)
                self.event(at, "charge.refunded", "charge", charge.id, {"amount_refunded": 0, "refunded": False})
                self.event(at, "refund.created", "refund", rid)
            elif roll < 0.075 * self.richness:
                self.dispute(charge, rng)
        self.ensure_open_dispute()

    def ensure_open_dispute(self) -> None:
        """Guarantee an open dispute with an evidence deadline ahead of the reference date (the tile's point)."""
        reference = ts(self.world.reference_time)
        if any(
            d.created <= reference and d.status_at(reference) in OPEN_DISPUTE_STATUSES
            for d in self.sw.disputes.values()
        ):
            return
        candidates = [
            c
            for c in self.sw.charges.values()
            if c.status == "succeeded" and not c.refunds and c.dispute is None and c.created < reference - 20 * DAY
        ]
        charge = max(candidates, key=lambda c: c.created)
        rng = stable_rng(*self.label, "open-dispute")
        created = reference - 4 * DAY - int(rng.uniform(0, DAY))
        self.open_dispute(charge, created, "product_not_received", created + 14 * DAY, [(created, "needs_response")])

    def open_dispute(
        self, charge: Charge, created: int, reason: str, due: int, transitions: list[tuple[int, str]]
    ) -> Dispute:
        """Record a dispute on `charge`: the chargeback withdrawal and the `charge.dispute.created` event."""
        did = self.new_id("dp", 24)
        dispute = Dispute(did, charge.id, charge.amount, charge.currency, created, reason, due, transitions)
        self.sw.disputes[did] = dispute
        charge.dispute = did
        txn = self.bt(
            -charge.amount,
            DISPUTE_FEE,
            charge.currency,
            created,
            "adjustment",
            "dispute",
            did,
            f"Chargeback withdrawal for {charge.id}",
            available_days=0,
        )
        dispute.balance_transactions.append((created, txn))
        self.event(created, "charge.dispute.created", "dispute", did)
        return dispute

    def dispute(self, charge: Charge, rng: Any) -> None:
        created = charge.created + int(rng.uniform(5, 40) * DAY)
        if created > self.end:
            return
        due = created + 14 * DAY
        transitions = [(created, "needs_response")]
        evidence = rng.random() < 0.75
        if evidence:
            transitions.append((created + int(rng.uniform(2, 10) * DAY), "under_review"))
            closed = due + int(rng.uniform(20, 60) * DAY)
            transitions.append((closed, "won" if rng.random() < 0.45 else "lost"))
        else:
            transitions.append((due + 3600, "lost"))
        reason = rng.choice(("fraudulent", "product_not_received", "subscription_canceled", "duplicate", "general"))
        dispute = self.open_dispute(charge, created, reason, due, transitions)
        did = dispute.id
        for at, status in transitions[1:]:
            if at > self.end:
                break
            if status == "won":
                txn = self.bt(
                    charge.amount,
                    0,
                    charge.currency,
                    at,
                    "adjustment",
                    "dispute_reversal",
                    did,
                    f"Chargeback reversal for {charge.id}",
                    available_days=0,
                )
                dispute.balance_transactions.append((at, txn))
            kind = "charge.dispute.closed" if status in ("won", "lost") else "charge.dispute.updated"
            self.event(
                at, kind, "dispute", did, {"status": "needs_response" if status == "under_review" else "under_review"}
            )

    def payouts(self) -> None:
        """Weekly automatic payouts per currency (each currency on its own weekday) of everything available, arriving
        5 days later (pending 1 day, then in transit); some fail at arrival and the money comes back."""
        txns = sorted(self.sw.balance_transactions.values(), key=lambda b: b.available_on)
        start = ts(self.world.start_time)
        for currency in sorted({b.currency for b in txns}):
            cur = [b for b in txns if b.currency == currency]
            i, balance = 0, 0
            included: list[str] = []
            t = start + (7 + PAYOUT_WEEKDAY_OFFSET.get(currency, 0)) * DAY
            while t <= self.end:
                while i < len(cur) and cur[i].available_on <= t:
                    balance += cur[i].net
                    included.append(cur[i].id)
                    i += 1
                if balance > 0:
                    rng = stable_rng(*self.label, "payout", currency, t)
                    pid = self.new_id("po", 24)
                    arrival = t + PAYOUT_TRANSIT_DAYS * DAY
                    transitions = [(t, "pending"), (t + DAY, "in_transit")]
                    payout_txn = self.bt(
                        -balance, 0, currency, t, "payout", "payout", pid, "STRIPE PAYOUT", available_days=0
                    )
                    payout = Payout(pid, balance, currency, t, arrival, transitions, payout_txn)
                    payout.transactions = [*included, payout_txn]
                    included = []
                    if rng.random() < 0.06:
                        transitions.append((arrival, "failed"))
                        payout.failure_code, payout.failure_message = rng.choice(
                            (
                                ("account_closed", "The bank account has been closed."),
                                ("could_not_process", "The bank could not process this payout."),
                            )
                        )
                        if arrival <= self.end:
                            payout.failure_balance_transaction = self.bt(
                                balance,
                                0,
                                currency,
                                arrival,
                                "payout_failure",
                                "payout_reversal",
                                pid,
                                "Payout failure",
                                available_days=0,
                            )
                            # The failed amount is back in the balance for the next payout.
                            bisect.insort(
                                cur,
                                self.sw.balance_transactions[payout.failure_balance_transaction],
                                key=lambda b: b.available_on,
                            )
                    else:
                        transitions.append((arrival, "paid"))
                    self.sw.payouts[pid] = payout
                    self.event(t, "payout.created", "payout", pid)
                    self.event(t + DAY, "payout.updated", "payout", pid, {"status": "pending"})
                    self.event(arrival, f"payout.{transitions[-1][1]}", "payout", pid, {"status": "in_transit"})
                    balance = 0
                t += 7 * DAY


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, str, bool, type(None))) else str(value)


def _payment_objects(sw: StripeWorld) -> None:
    """PaymentIntents behind the invoices' charges and each customer's card, derived from what is already there
    (ids are stable functions of the invoice or customer id, so nothing else in the world moves)."""
    for cus in sw.customers.values():
        pm = sw.payment_method_of(cus.id)
        sw.payment_methods[pm] = PaymentMethod(pm, cus.id, cus.created, sid("fp", cus.id, length=16)[3:])
    by_invoice: dict[str, list[Charge]] = {}
    for charge in sorted(sw.charges.values(), key=lambda c: (c.created, c.id)):
        if charge.invoice:
            by_invoice.setdefault(charge.invoice, []).append(charge)
    for invoice_id, charges in by_invoice.items():
        invoice = sw.invoices[invoice_id]
        pi = sw.payment_intent_id(invoice_id)
        sw.payment_intents[pi] = PaymentIntent(
            pi, invoice_id, invoice.customer, invoice.total, invoice.currency, charges[0].created, [c.id for c in charges]
        )


def generate(world: World) -> StripeWorld:
    """Build Stripe's part of `world` (called once by `world.extension("stripe")`)."""
    builder = _Builder(world)
    builder.catalogue()
    builder.customers()
    builder.refunds_and_disputes()
    builder.payouts()
    _payment_objects(builder.sw)
    sw = builder.sw
    sw.events.sort(key=lambda e: (e.created, e.id))
    return sw
