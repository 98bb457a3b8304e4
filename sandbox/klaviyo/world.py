"""Klaviyo's part of the synthetic business: email campaigns and flows sent to the shared customers.

Built deterministically on the world's customers (same emails) and Shopify orders:
- one profile per customer; email consent from `accepts_marketing`, later lost through unsubscribes, hard
  bounces and spam complaints (global suppressions with timestamps);
- an email campaign every `CAMPAIGN_EVERY_DAYS` to the subscribed profiles, and three flows (welcome series on
  subscription, post-purchase after each order, win-back after 120 days without an order);
- per send: Received or Bounced, opens (some of them machine opens: Apple Mail privacy protection fetches every
  image), clicks after human opens, unsubscribes, spam complaints;
- Placed Order / Ordered Product events for every Shopify order, some placed after an email touch (the generator
  adds an open and a click shortly before a share of orders) and some without; each Placed Order carries
  *Klaviyo's own* attribution: last open (machine opens included) or click within 5 days, as Klaviyo does by
  default;
- segments and a list with membership join times.

Every event is stamped; the simulator shows what is stamped <= `world.now`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.world.core import Customer, Order, World, stable_rng

CAMPAIGN_EVERY_DAYS = 12
ATTRIBUTION_WINDOW = timedelta(days=5)
WINBACK_AFTER = timedelta(days=120)
# Engagement by customer type: (human open probability, click probability given a human open).
ENGAGEMENT = {"loyal": (0.55, 0.30), "casual": (0.35, 0.15), "one_time": (0.18, 0.10), "churner": (0.22, 0.10)}
MACHINE_OPEN_SHARE = 0.15
"""Share of profiles on Apple Mail privacy protection: every delivered email gets a machine open."""
BOUNCE_RATE = 0.006
UNSUBSCRIBE_RATE = 0.004
SPAM_RATE = 0.0008
TOUCH_BEFORE_ORDER = 0.5
"""Probability that an order with a recent (<= 5 days) delivered email gets a human open + click before it."""


def kid(*parts: Any, length: int = 26) -> str:
    """A Klaviyo-looking id (ULIDs for profiles/campaigns, 6 characters for metrics/flows/lists), stable."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return "".join(alphabet[b % 32] for b in digest[:length])


@dataclass
class Metric:
    id: str
    name: str
    integration: dict[str, Any]
    created: datetime


@dataclass
class Profile:
    id: str
    customer: Customer
    created: datetime
    subscribed_at: datetime | None
    """When email consent was given (None: never subscribed)."""
    suppressions: list[tuple[datetime, str]] = field(default_factory=list)
    """(timestamp, reason): UNSUBSCRIBE, HARD_BOUNCE, SPAM_COMPLAINT. The first one ends email sends."""
    machine_opener: bool = False

    @property
    def email(self) -> str:
        return self.customer.email

    def suppressed_at(self) -> datetime | None:
        return min((t for t, _ in self.suppressions), default=None)

    def can_email(self, when: datetime) -> bool:
        if self.subscribed_at is None or self.subscribed_at > when or self.created > when:
            return False
        stop = self.suppressed_at()
        return stop is None or stop > when


@dataclass
class Message:
    id: str
    name: str
    subject: str
    created: datetime
    campaign_id: str | None = None
    flow_id: str | None = None
    flow_action_id: str | None = None


@dataclass
class Campaign:
    id: str
    name: str
    created_at: datetime
    send_time: datetime
    message: Message
    list_id: str

    def status(self, now: datetime) -> str:
        return "Sent" if self.send_time <= now else "Scheduled"

    def updated_at(self, now: datetime) -> datetime:
        return self.send_time if self.send_time <= now else self.created_at


@dataclass
class FlowAction:
    id: str
    flow_id: str
    created: datetime
    delay: timedelta
    message: Message


@dataclass
class Flow:
    id: str
    name: str
    trigger_type: str
    created: datetime
    updated: datetime
    actions: list[FlowAction]


@dataclass
class Event:
    id: str
    metric: str
    profile_id: str
    datetime: datetime
    properties: dict[str, Any]
    message_id: str | None = None
    order_id: int | None = None
    machine_open: bool = False


@dataclass
class Group:
    """A segment or a list, with the time each member joined."""

    id: str
    kind: str  # "segment" | "list"
    name: str
    created: datetime
    updated: datetime
    members: list[tuple[str, datetime]]


@dataclass
class KlaviyoWorld:
    metrics: list[Metric]
    profiles: list[Profile]
    campaigns: list[Campaign]
    flows: list[Flow]
    events: list[Event]
    """Sorted by datetime."""
    groups: list[Group]
    messages: dict[str, Message]
    klaviyo_attribution: dict[int, tuple[str, str]]
    """Shopify order id -> (message id, touch event id): Klaviyo's own last-touch attribution (machine opens count)."""

    def __post_init__(self) -> None:
        self.metrics_by_name = {m.name: m for m in self.metrics}
        self.metrics_by_id = {m.id: m for m in self.metrics}
        self.profiles_by_id = {p.id: p for p in self.profiles}
        self.profiles_by_email = {p.email: p for p in self.profiles}
        self.groups_by_id = {g.id: g for g in self.groups}

    def visible_events(self, now: datetime) -> list[Event]:
        return [e for e in self.events if e.datetime <= now]

    def profile_updated(self, profile: Profile, now: datetime) -> datetime:
        stamps = [profile.created]
        stamps += [t for t, _ in profile.suppressions if t <= now]
        if profile.customer.profile_updated_at <= now:
            stamps.append(profile.customer.profile_updated_at)
        return max(stamps)


def _money(cents: int) -> float:
    return round(cents / 100, 2)


def generate(world: World) -> KlaviyoWorld:
    rng = stable_rng(world.seed, world.scale.name, "klaviyo")
    start = world.start_time
    integration_api = {"id": "0rG4eQ", "name": "API", "category": "API"}
    integration_shopify = {"id": "0eMvjm", "name": "Shopify", "category": "eCommerce"}
    integration_klaviyo = {"id": "0rG4eQ", "name": "Klaviyo", "category": "Internal"}
    metric_defs = [
        ("Received Email", integration_klaviyo),
        ("Opened Email", integration_klaviyo),
        ("Clicked Email", integration_klaviyo),
        ("Bounced Email", integration_klaviyo),
        ("Unsubscribed from Email Marketing", integration_klaviyo),
        ("Marked Email as Spam", integration_klaviyo),
        ("Placed Order", integration_shopify),
        ("Ordered Product", integration_shopify),
        ("Active on Site", integration_api),
    ]
    metrics = [Metric(kid(world.seed, "metric", n, length=6), n, i, start) for n, i in metric_defs]

    profiles: list[Profile] = []
    for c in world.customers:
        created = c.created_at + timedelta(minutes=rng.uniform(1, 30))
        subscribed = created if c.accepts_marketing else None
        profiles.append(
            Profile(
                id=kid(world.seed, "profile", c.id),
                customer=c,
                created=created.replace(microsecond=0),
                subscribed_at=subscribed.replace(microsecond=0) if subscribed else None,
                machine_opener=rng.random() < MACHINE_OPEN_SHARE,
            )
        )
    by_customer = {p.customer.id: p for p in profiles}
    newsletter_id = kid(world.seed, "list", "newsletter", length=6)

    messages: dict[str, Message] = {}
    campaigns: list[Campaign] = []
    themes = ("New harvest", "Brew guide", "Gear sale", "Subscriber picks", "Roaster's notes", "Holiday gifts")
    send = start + timedelta(days=20)
    n = 0
    while send < world.end_time:
        n += 1
        send_time = send.replace(hour=15, minute=0, second=0, microsecond=0)
        cid = kid(world.seed, "campaign", n)
        name = f"{themes[n % len(themes)]} #{n}"
        msg = Message(kid(world.seed, "campaign-message", n), name, f"{name}: fresh from the roastery", send_time - timedelta(days=6), campaign_id=cid)
        messages[msg.id] = msg
        campaigns.append(Campaign(cid, name, send_time - timedelta(days=6), send_time, msg, newsletter_id))
        send += timedelta(days=CAMPAIGN_EVERY_DAYS)

    def flow(key: str, name: str, trigger: str, steps: list[tuple[str, timedelta]]) -> Flow:
        fid = kid(world.seed, "flow", key, length=6)
        actions = []
        for i, (subject, delay) in enumerate(steps):
            aid = str(90_000_000 + len(messages) * 13 + i)
            msg = Message(kid(world.seed, "flow-message", key, i, length=6), f"{name} email {i + 1}", subject, start, flow_id=fid, flow_action_id=aid)
            messages[msg.id] = msg
            actions.append(FlowAction(aid, fid, start, delay, msg))
        return Flow(fid, name, trigger, start, start + timedelta(days=3), actions)

    welcome = flow("welcome", "Welcome Series", "Added to List", [("Welcome to Northwind", timedelta(minutes=5)), ("How we roast", timedelta(days=3))])
    post_purchase = flow("post", "Post-Purchase Thank You", "Metric", [("Thanks for your order", timedelta(days=2))])
    winback = flow("winback", "Win-back", "Metric", [("We miss you", timedelta(0)), ("A little something", timedelta(days=5))])
    flows = [welcome, post_purchase, winback]

    # --- sends: (time, profile, message) -------------------------------------------------------------------
    sends: list[tuple[datetime, Profile, Message]] = []
    for campaign in campaigns:
        for p in profiles:
            if p.subscribed_at is not None and p.subscribed_at <= campaign.send_time:
                sends.append((campaign.send_time + timedelta(seconds=rng.randint(0, 1800)), p, campaign.message))
    for p in profiles:
        if p.subscribed_at is not None:
            for action in welcome.actions:
                sends.append((p.subscribed_at + action.delay, p, action.message))
    for order in world.orders:
        buyer = by_customer.get(order.customer_id)
        if buyer is not None and buyer.subscribed_at is not None:
            t = order.created_at + post_purchase.actions[0].delay
            sends.append((t, buyer, post_purchase.actions[0].message))
    for customer_id, orders in world.orders_by_customer.items():
        p = by_customer[customer_id]
        if p.subscribed_at is None:
            continue
        stamps = sorted(o.created_at for o in orders)
        for a, b in zip(stamps, stamps[1:] + [world.end_time + WINBACK_AFTER], strict=False):
            if b - a > WINBACK_AFTER:
                for action in winback.actions:
                    sends.append((a + WINBACK_AFTER + action.delay, p, action.message))
    sends = [s for s in sends if s[0] <= world.end_time]
    sends.sort(key=lambda s: (s[0], s[1].id, s[2].id))

    events: list[Event] = []
    {x.name: x for x in metrics}
    seq = 0

    def add(metric: str, profile: Profile, when: datetime, props: dict[str, Any], message: Message | None = None, **kw: Any) -> Event:
        nonlocal seq
        seq += 1
        when = when.replace(microsecond=0)
        if message is not None:
            props = {**props, "$message": message.id, "Subject": message.subject, "Campaign Name": message.name}
            if message.flow_id:
                props["$flow"] = message.flow_id
        ev = Event(kid(world.seed, "event", seq, length=28), metric, profile.id, when, props, message.id if message else None, **kw)
        events.append(ev)
        return ev

    delivered: dict[str, list[tuple[datetime, Message]]] = {}
    for when, p, msg in sends:
        if not p.can_email(when):
            continue
        r = stable_rng(world.seed, world.scale.name, "klaviyo-send", p.id, msg.id, when.isoformat())
        if r.random() < BOUNCE_RATE:
            ev = add("Bounced Email", p, when, {"Bounce Type": "hard"}, msg)
            p.suppressions.append((ev.datetime, "HARD_BOUNCE"))
            continue
        add("Received Email", p, when, {}, msg)
        delivered.setdefault(p.id, []).append((when, msg))
        if p.machine_opener:
            add("Opened Email", p, when + timedelta(seconds=r.randint(20, 600)), {"machine_open": True}, msg, machine_open=True)
        open_p, click_p = ENGAGEMENT[p.customer.segment]
        if r.random() < open_p:
            first_open = when + timedelta(minutes=r.uniform(10, 48 * 60))
            for k in range(r.choice((1, 1, 1, 2, 3))):
                add("Opened Email", p, first_open + timedelta(hours=k * r.uniform(1, 20)), {"machine_open": False}, msg)
            if r.random() < click_p:
                add("Clicked Email", p, first_open + timedelta(minutes=r.uniform(1, 30)), {"URL": "https://northwind.example/shop"}, msg)
            if r.random() < UNSUBSCRIBE_RATE * 8:
                ev = add("Unsubscribed from Email Marketing", p, first_open + timedelta(minutes=r.uniform(1, 30)), {"List": newsletter_id}, msg)
                p.suppressions.append((ev.datetime, "UNSUBSCRIBE"))
            elif r.random() < SPAM_RATE * 8:
                ev = add("Marked Email as Spam", p, first_open + timedelta(minutes=r.uniform(1, 30)), {}, msg)
                p.suppressions.append((ev.datetime, "SPAM_COMPLAINT"))

    # --- orders: some placed right after an email touch -----------------------------------------------------
    orng = stable_rng(world.seed, world.scale.name, "klaviyo-orders")
    for order in world.orders:
        p = by_customer[order.customer_id]
        recent = [(t, msg) for t, msg in delivered.get(p.id, []) if order.created_at - ATTRIBUTION_WINDOW < t < order.created_at - timedelta(minutes=30)]
        if recent and orng.random() < TOUCH_BEFORE_ORDER:
            t, msg = orng.choice(recent)
            gap = (order.created_at - t).total_seconds()
            open_at = t + timedelta(seconds=gap * orng.uniform(0.2, 0.6))
            add("Opened Email", p, open_at, {"machine_open": False}, msg)
            add("Clicked Email", p, open_at + timedelta(seconds=gap * 0.1), {"URL": "https://northwind.example/shop"}, msg)
        _order_events(add, p, order)

    events.sort(key=lambda e: (e.datetime, e.id))
    attribution = _klaviyo_attribution(events, messages, metrics)
    for e in events:
        if e.metric == "Placed Order" and e.order_id in attribution:
            msg_id, touch_id = attribution[e.order_id]
            msg = messages[msg_id]
            e.properties["$attributed_message"] = msg_id
            e.properties["$attributed_channel"] = "email"
            e.properties["$attributed_event_id"] = touch_id
            if msg.flow_id:
                e.properties["$attributed_flow"] = msg.flow_id

    groups = _groups(world, profiles, by_customer, newsletter_id)
    return KlaviyoWorld(metrics, profiles, campaigns, flows, events, groups, messages, attribution)


def _order_events(add: Any, p: Profile, order: Order) -> None:
    items = [
        {"ProductID": li.id, "SKU": li.sku, "ProductName": li.title, "Quantity": li.quantity,
         "ItemPrice": _money(li.unit_price_cents), "RowTotal": _money(li.unit_price_cents * li.quantity)}
        for li in order.line_items
    ]
    props = {"$event_id": str(order.id), "$value": _money(order.total_cents), "OrderId": str(order.id),
             "ItemNames": [li.title for li in order.line_items], "Items": items, "$currency_code": order.currency}
    add("Placed Order", p, order.created_at, props, order_id=order.id)
    for li, item in zip(order.line_items, items, strict=False):
        add("Ordered Product", p, order.created_at + timedelta(seconds=1),
            {"$event_id": f"{order.id}:{li.id}", "$value": item["RowTotal"], "OrderId": str(order.id), **item}, order_id=order.id)


def _klaviyo_attribution(events: list[Event], messages: dict[str, Message], metrics: list[Metric]) -> dict[int, tuple[str, str]]:
    """Klaviyo's default: last email open (machine opens too) or click within 5 days before the order."""
    last_touch: dict[str, Event] = {}
    touches: dict[str, list[Event]] = {}
    for e in events:
        if e.metric in ("Opened Email", "Clicked Email"):
            touches.setdefault(e.profile_id, []).append(e)
    result: dict[int, tuple[str, str]] = {}
    for e in events:
        if e.metric != "Placed Order":
            continue
        candidates = [t for t in touches.get(e.profile_id, []) if e.datetime - ATTRIBUTION_WINDOW <= t.datetime <= e.datetime]
        if candidates:
            touch = max(candidates, key=lambda t: (t.datetime, t.id))
            last_touch[e.profile_id] = touch
            assert touch.message_id is not None
            result[e.order_id] = (touch.message_id, touch.id)  # type: ignore[index]
    return result


def _groups(world: World, profiles: list[Profile], by_customer: dict[int, Profile], newsletter_id: str) -> list[Group]:
    start = world.start_time
    repeat: list[tuple[str, datetime]] = []
    vip: list[tuple[str, datetime]] = []
    gift: list[tuple[str, datetime]] = []
    for customer_id, orders in world.orders_by_customer.items():
        p = by_customer[customer_id]
        live = sorted((o for o in orders if o.cancelled_at is None), key=lambda o: o.created_at)
        if len(live) >= 2:
            repeat.append((p.id, live[1].created_at))
        if len(live) >= 4:
            vip.append((p.id, live[3].created_at))
        gifts = [o.created_at for o in live if any(li.sku.startswith("GIFT") for li in o.line_items)]
        if gifts:
            gift.append((p.id, gifts[0]))
    newsletter = [(p.id, p.subscribed_at) for p in profiles if p.subscribed_at is not None]
    return [
        Group(kid(world.seed, "segment", "repeat", length=6), "segment", "Repeat Purchasers", start, start, repeat),
        Group(kid(world.seed, "segment", "vip", length=6), "segment", "VIP Customers", start, start, vip),
        Group(kid(world.seed, "segment", "gift", length=6), "segment", "Gift Card Buyers", start, start, gift),
        Group(newsletter_id, "list", "Newsletter", start, start, newsletter),
    ]
