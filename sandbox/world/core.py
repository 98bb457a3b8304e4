"""One deterministic synthetic business behind every simulator.

The merchant ("Northwind Roasters") sells coffee and gear through Shopify, runs a subscription club billed by Stripe,
emails customers through Klaviyo and answers them in Zendesk. The same customers (same emails) appear everywhere.

The world is generated once, from `seed` and `scale`, over a span that ends `ADVANCE_HORIZON_DAYS` *after* the
reference date. What a simulator shows is the world as of `now`: records and changes stamped later are invisible.
`advance(days)` moves `now` forward, so new customers and orders appear and old orders pick up fulfilments and
refunds: exactly the "new and changed records" an incremental load must find. Ground truth for tests is the same
objects, read through the same `now`.

Money is held in integer minor units (cents); simulators render it the way each API does.
"""

from __future__ import annotations

import hashlib
import importlib
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

REFERENCE_TIME = datetime(2026, 11, 1, tzinfo=UTC)
"""The fixed 'today' of a fresh world (before any `advance`)."""
ADVANCE_HORIZON_DAYS = 60
"""How far past the reference date the world is pre-generated; `advance` can move `now` at most this far."""


@dataclass(frozen=True)
class Scale:
    name: str
    customers: int
    history_days: int
    orders_per_customer: float


SCALES: dict[str, Scale] = {
    "small": Scale("small", customers=120, history_days=400, orders_per_customer=2.5),
    "medium": Scale("medium", customers=1500, history_days=540, orders_per_customer=2.5),
    "large": Scale("large", customers=15000, history_days=730, orders_per_customer=2.5),
    # Benchmarks only (issue 16): ten times large, to show an extraction's memory does not grow with the data.
    "xlarge": Scale("xlarge", customers=150000, history_days=730, orders_per_customer=2.5),
}

FIRST_NAMES = (
    "Ava Liam Olivia Noah Emma Oliver Sophia Elijah Mia Lucas Amelia Mateo Harper Levi Evelyn Ezra Aria Leo "
    "Luna Jack Chloe Asher Layla Henry Zoe Owen Nora Kai Hazel Theo Ivy Jonah Maya Felix Ines Omar Priya Ravi "
    "Sofia Yuki Hana Diego Lena Marco Anya Tomas Freya Idris Nadia"
).split()
LAST_NAMES = (
    "Smith Johnson Garcia Brown Lee Martin Nguyen Patel Kim Lopez Clark Lewis Walker Young Allen King Wright "
    "Scott Green Baker Adams Nelson Hill Ramirez Campbell Mitchell Roberts Carter Phillips Evans Turner Torres "
    "Parker Collins Edwards Stewart Morris Murphy Cook Rogers Okafor Schmidt Rossi Dubois Silva Tanaka Novak"
).split()
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
LOCATIONS = (
    ("Portland", "Oregon", "OR", "United States", "US", "97201"),
    ("Austin", "Texas", "TX", "United States", "US", "73301"),
    ("Brooklyn", "New York", "NY", "United States", "US", "11201"),
    ("Chicago", "Illinois", "IL", "United States", "US", "60601"),
    ("Denver", "Colorado", "CO", "United States", "US", "80202"),
    ("Seattle", "Washington", "WA", "United States", "US", "98101"),
    ("Miami", "Florida", "FL", "United States", "US", "33101"),
    ("Toronto", "Ontario", "ON", "Canada", "CA", "M5H 2N2"),
    ("Vancouver", "British Columbia", "BC", "Canada", "CA", "V6B 1A1"),
    ("London", "England", "ENG", "United Kingdom", "GB", "EC1A 1BB"),
    ("Berlin", "Berlin", "BE", "Germany", "DE", "10115"),
    ("Lyon", "Auvergne-Rhône-Alpes", "ARA", "France", "FR", "69001"),
)
PRODUCTS = (
    # (sku, title, price in cents)
    ("BEAN-ETH-250", "Ethiopia Yirgacheffe 250g", 1650),
    ("BEAN-COL-250", "Colombia Huila 250g", 1450),
    ("BEAN-KEN-250", "Kenya Nyeri 250g", 1750),
    ("BEAN-BRA-1K", "Brazil Cerrado 1kg", 3900),
    ("BEAN-DEC-250", "Swiss Water Decaf 250g", 1500),
    ("BEAN-ESP-1K", "House Espresso 1kg", 4200),
    ("GEAR-V60", "Ceramic Dripper", 2800),
    ("GEAR-FILT", "Paper Filters (100)", 900),
    ("GEAR-KETTLE", "Gooseneck Kettle", 7900),
    ("GEAR-GRIND", "Burr Grinder", 14900),
    ("GEAR-SCALE", "Brew Scale", 4500),
    ("MERCH-MUG", "Enamel Mug", 1800),
    ("MERCH-TOTE", "Canvas Tote", 2200),
    ("GIFT-CARD-50", "Gift Card $50", 5000),
)
# Seasonality: relative order volume by calendar month (Black Friday / December peak, January lull).
MONTH_WEIGHT = {1: 0.7, 2: 0.75, 3: 0.9, 4: 0.95, 5: 1.0, 6: 0.95, 7: 0.9, 8: 0.95, 9: 1.0, 10: 1.1, 11: 1.7, 12: 1.9}
TAX_RATE = 0.08
FREE_SHIPPING_CENTS = 5000
SHIPPING_CENTS = 599


def stable_rng(*parts: Any) -> random.Random:
    """A random stream that depends only on its labels, not on the order other streams were drawn in."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


@dataclass
class Customer:
    id: int
    first_name: str
    last_name: str
    email: str
    phone: str | None
    city: str
    province: str
    province_code: str
    country: str
    country_code: str
    zip: str
    created_at: datetime
    accepts_marketing: bool
    tags: list[str]
    profile_updated_at: datetime
    """A later edit of the profile (new phone, tag change), possibly after the reference date."""
    segment: str
    """Behavioural type the generators use: 'loyal', 'casual', 'one_time', 'churner'."""


@dataclass
class LineItem:
    id: int
    sku: str
    title: str
    quantity: int
    unit_price_cents: int


@dataclass
class Refund:
    id: int
    created_at: datetime
    amount_cents: int
    line_items: list[tuple[int, int]]
    """(line item id, quantity) pairs."""


@dataclass
class Order:
    id: int
    number: int
    customer_id: int
    email: str
    created_at: datetime
    line_items: list[LineItem]
    discount_cents: int
    shipping_cents: int
    tax_cents: int
    currency: str
    fulfilled_at: datetime | None
    cancelled_at: datetime | None
    refunds: list[Refund] = field(default_factory=list)

    @property
    def subtotal_cents(self) -> int:
        return sum(li.quantity * li.unit_price_cents for li in self.line_items) - self.discount_cents

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.shipping_cents + self.tax_cents

    def returned_line_value_cents(self, line_item_id: int, quantity: int) -> int:
        """What Shopify reports as a refund line's `subtotal`: the returned units at their price after their share of
        the order's discount (order-level discounts are allocated to lines in proportion to their value), before tax."""
        gross = sum(li.quantity * li.unit_price_cents for li in self.line_items)
        line = next(li for li in self.line_items if li.id == line_item_id)
        value = quantity * line.unit_price_cents
        return value - (round(self.discount_cents * value / gross) if gross else 0)

    def refunds_as_of(self, now: datetime) -> list[Refund]:
        return [r for r in self.refunds if r.created_at <= now]

    def refunded_cents(self, now: datetime) -> int:
        return sum(r.amount_cents for r in self.refunds_as_of(now))

    def updated_at(self, now: datetime) -> datetime:
        stamps = [self.created_at]
        stamps += [t for t in (self.fulfilled_at, self.cancelled_at) if t is not None and t <= now]
        stamps += [r.created_at for r in self.refunds_as_of(now)]
        return max(stamps)

    def financial_status(self, now: datetime) -> str:
        if self.cancelled_at is not None and self.cancelled_at <= now:
            return "VOIDED"
        refunded = self.refunded_cents(now)
        if refunded == 0:
            return "PAID"
        return "REFUNDED" if refunded >= self.total_cents else "PARTIALLY_REFUNDED"

    def fulfillment_status(self, now: datetime) -> str:
        return "FULFILLED" if self.fulfilled_at is not None and self.fulfilled_at <= now else "UNFULFILLED"


class World:
    """The synthetic business. Thread-safe for readers; `advance` takes a lock."""

    def __init__(self, seed: int = 42, scale: str = "small") -> None:
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}")
        self.seed = seed
        self.scale = SCALES[scale]
        self.reference_time = REFERENCE_TIME
        self.start_time = REFERENCE_TIME - timedelta(days=self.scale.history_days)
        self.end_time = REFERENCE_TIME + timedelta(days=ADVANCE_HORIZON_DAYS)
        self.now = REFERENCE_TIME
        self.epoch = 0
        self._lock = threading.RLock()
        self._extensions: dict[str, Any] = {}
        self.customers: list[Customer] = []
        self.orders: list[Order] = []
        self._generate()

    # --- time -------------------------------------------------------------------------------------------------
    def advance(self, days: float = 1.0) -> datetime:
        with self._lock:
            target = self.now + timedelta(days=days)
            if target > self.end_time:
                raise ValueError(f"cannot advance past the pre-generated horizon {self.end_time.isoformat()}")
            self.now = target
            self.epoch += 1
            return self.now

    # --- views as of now ---------------------------------------------------------------------------------------
    def visible_customers(self) -> list[Customer]:
        now = self.now
        return [c for c in self.customers if c.created_at <= now]

    def visible_orders(self) -> list[Order]:
        now = self.now
        return [o for o in self.orders if o.created_at <= now]

    def customer_updated_at(self, customer: Customer) -> datetime:
        now = self.now
        stamps = [customer.created_at]
        if customer.profile_updated_at <= now:
            stamps.append(customer.profile_updated_at)
        stamps += [o.updated_at(now) for o in self.orders_by_customer.get(customer.id, []) if o.created_at <= now]
        return max(stamps)

    def customer_by_id(self, customer_id: int) -> Customer:
        return self._customers_by_id[customer_id]

    def extension(self, provider: str) -> Any:
        """The provider's own part of the world (`sandbox.<provider>.world.generate(world)`), built once."""
        with self._lock:
            if provider not in self._extensions:
                module = importlib.import_module(f"sandbox.{provider}.world")
                self._extensions[provider] = module.generate(self)
            return self._extensions[provider]

    # --- generation --------------------------------------------------------------------------------------------
    def _random_time(self, rng: random.Random, start: datetime, end: datetime, seasonal: bool = True) -> datetime:
        span = (end - start).total_seconds()
        while True:
            t = start + timedelta(seconds=rng.random() * span)
            if not seasonal or rng.random() * 1.9 <= MONTH_WEIGHT[t.month]:
                return t.replace(microsecond=0)

    def _generate(self) -> None:
        rng = stable_rng(self.seed, self.scale.name, "customers")
        total_span = (self.end_time - self.start_time).total_seconds()
        for i in range(self.scale.customers):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            # Growth: later sign-ups are more likely (sqrt skews toward the end of the span).
            created = self.start_time + timedelta(seconds=(rng.random() ** 0.7) * total_span)
            created = created.replace(microsecond=0)
            loc = rng.choice(LOCATIONS)
            segment = rng.choices(("loyal", "casual", "one_time", "churner"), weights=(15, 40, 30, 15))[0]
            profile_edit = created + timedelta(days=rng.uniform(1, 500))
            self.customers.append(
                Customer(
                    id=7_000_000_000 + i * 97 + 13,
                    first_name=first,
                    last_name=last,
                    email=f"{first.lower()}.{last.lower()}.{i}@{EMAIL_DOMAINS[i % len(EMAIL_DOMAINS)]}",
                    phone=f"+1555{rng.randrange(1000000, 9999999)}" if rng.random() < 0.6 else None,
                    city=loc[0],
                    province=loc[1],
                    province_code=loc[2],
                    country=loc[3],
                    country_code=loc[4],
                    zip=loc[5],
                    created_at=created,
                    accepts_marketing=rng.random() < 0.72,
                    tags=sorted(rng.sample(["wholesale", "vip", "newsletter", "gift", "cafe"], k=rng.randint(0, 2))),
                    profile_updated_at=profile_edit.replace(microsecond=0),
                    segment=segment,
                )
            )
        self.customers.sort(key=lambda c: c.created_at)
        self._customers_by_id = {c.id: c for c in self.customers}

        rng = stable_rng(self.seed, self.scale.name, "orders")
        order_seq, line_seq, refund_seq = 0, 0, 0
        drafts: list[tuple[datetime, Customer]] = []
        mean = self.scale.orders_per_customer
        for customer in self.customers:
            n = {
                "loyal": max(2, int(rng.gauss(mean * 2.6, 2))),
                "casual": max(1, int(rng.gauss(mean, 1))),
                "one_time": 1 if rng.random() < 0.85 else 0,
                "churner": max(1, int(rng.gauss(mean * 0.8, 1))),
            }[customer.segment]
            horizon = self.end_time
            if customer.segment == "churner":
                horizon = min(self.end_time, customer.created_at + timedelta(days=rng.uniform(60, 240)))
            if horizon <= customer.created_at:
                continue
            first_order = customer.created_at + timedelta(minutes=rng.uniform(5, 600))
            if first_order < horizon and n:
                drafts.append((first_order.replace(microsecond=0), customer))
            for _ in range(n - 1):
                drafts.append((self._random_time(rng, customer.created_at, horizon), customer))
        drafts.sort(key=lambda d: d[0])
        for created, customer in drafts:
            order_seq += 1
            items = []
            for sku, title, price in rng.sample(PRODUCTS, k=min(len(PRODUCTS), rng.choices((1, 2, 3, 4, 5), (40, 30, 15, 10, 5))[0])):
                line_seq += 1
                items.append(LineItem(id=13_000_000_000 + line_seq, sku=sku, title=title, quantity=rng.choices((1, 2, 3), (75, 20, 5))[0], unit_price_cents=price))
            gross = sum(li.quantity * li.unit_price_cents for li in items)
            discount = int(round(gross * 0.10)) if rng.random() < 0.15 else 0
            shipping = 0 if gross - discount >= FREE_SHIPPING_CENTS else SHIPPING_CENTS
            tax = int(round((gross - discount) * TAX_RATE))
            cancelled = None
            fulfilled: datetime | None = created + timedelta(hours=rng.uniform(6, 96))
            if rng.random() < 0.02:
                cancelled, fulfilled = created + timedelta(hours=rng.uniform(1, 30)), None
            order = Order(
                id=5_500_000_000 + order_seq * 7,
                number=1000 + order_seq,
                customer_id=customer.id,
                email=customer.email,
                created_at=created,
                line_items=items,
                discount_cents=discount,
                shipping_cents=shipping,
                tax_cents=tax,
                currency="USD",
                fulfilled_at=fulfilled.replace(microsecond=0) if fulfilled else None,
                cancelled_at=cancelled.replace(microsecond=0) if cancelled else None,
            )
            if cancelled is None and rng.random() < 0.07:
                refund_seq += 1
                when = created + timedelta(days=rng.uniform(3, 25))
                if rng.random() < 0.5:  # full refund
                    refund = Refund(950_000_000 + refund_seq, when.replace(microsecond=0), order.total_cents, [(li.id, li.quantity) for li in items])
                else:  # partial: one unit of the first line, with its tax
                    li = items[0]
                    amount = li.unit_price_cents + int(round(li.unit_price_cents * TAX_RATE))
                    refund = Refund(950_000_000 + refund_seq, when.replace(microsecond=0), amount, [(li.id, 1)])
                order.refunds.append(refund)
            self.orders.append(order)
        self.orders_by_customer: dict[int, list[Order]] = {}
        for order in self.orders:
            self.orders_by_customer.setdefault(order.customer_id, []).append(order)


def build_world(seed: int = 42, scale: str = "small") -> World:
    return World(seed=seed, scale=scale)
