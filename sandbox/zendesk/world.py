"""Zendesk's part of the synthetic business: the same customers who buy on Shopify (and subscribe on Stripe) ask
Northwind's support team questions, most of them about orders, with a surge after Black Friday.

Built deterministically on the world's customers (same emails) and orders, the way `sandbox/klaviyo/world.py`
builds on them:

- agents in three groups, one business-hours schedule (Mon-Fri 14:00-22:00 UTC) with US holidays, and two SLA
  policies by priority (first reply, next reply, periodic update, requester wait time as "full resolution"; business
  or calendar hours per target, as Zendesk lets a policy choose);
- tickets through their life as a list of updates (Zendesk's audits): new, open, pending, on-hold, solved, closed
  four days after solving; reopened when the customer answers a solved ticket; priority escalations; duplicates
  merged into the original (closed, tag `closed_by_merge`); test tickets deleted; spam marked as spam (deleted,
  requester suspended);
- the metric events Zendesk records for every ticket (activate, pause, fulfill, apply_sla, breach, update_status for
  reply_time, requester_wait_time, agent_work_time and periodic_update_time), computed from the updates and the
  schedule: this list *is* the SLA ground truth (`sla_instances`);
- satisfaction: the legacy good/bad survey (24 h after solving) until `CSAT_SWITCH`, the 1-5 CSAT survey after it
  (Zendesk allows one CSAT option at a time).

Every timestamp is minute-aligned; the simulator shows what is stamped <= `world.now`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.world.core import Customer, Order, World, stable_rng

from .schedule import Holiday, Schedule

SUBDOMAIN = "northwind-roasters"
ACCOUNT_ID = 12_345_678
CSAT_SWITCH = datetime(2026, 6, 1, tzinfo=UTC)
"""Tickets solved before this instant get the legacy good/bad survey, after it the 1-5 survey."""
CLOSE_AFTER = timedelta(days=4)
"""Zendesk's default automation closes a ticket 4 days after it was solved."""
SURVEY_AFTER = timedelta(hours=24)
"""Zendesk's default CSAT automation sends the survey 24 hours after the ticket is solved."""
PENDING_AUTO_SOLVE = timedelta(days=5)
BLACK_FRIDAYS = (date(2025, 11, 28), date(2026, 11, 27))

TICKET_ID_START = 1
USER_ID_BASE = 9_100_000_000_000
AGENT_ID_BASE = 9_000_000_000_000
ORG_ID_BASE = 8_800_000_000_000
GROUP_ID_BASE = 7_700_000_000_000
SCHEDULE_ID = 360_000_123
ORDER_FIELD_ID = 360_011_111
BRAND_ID = 360_000_555
FORM_ID = 360_000_777

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
RUNNING = {
    "requester_wait_time": {"new", "open", "hold"},
    "agent_work_time": {"new", "open"},
}
"""Statuses in which each pausable metric's clock runs (Zendesk's definitions)."""


@dataclass(frozen=True)
class PolicyMetric:
    priority: str
    metric: str
    """first_reply_time | next_reply_time | periodic_update_time | requester_wait_time"""
    target: int
    """Minutes."""
    business_hours: bool


@dataclass
class SlaPolicy:
    id: int
    title: str
    description: str
    position: int
    filter: dict[str, Any]
    policy_metrics: list[PolicyMetric]
    created_at: datetime
    updated_at: datetime

    def target(self, priority: str, metric: str) -> PolicyMetric | None:
        return next((m for m in self.policy_metrics if m.priority == priority and m.metric == metric), None)


@dataclass
class Group:
    id: int
    name: str
    description: str
    created_at: datetime


@dataclass
class Organization:
    id: int
    name: str
    tag: str
    created_at: datetime


@dataclass
class User:
    id: int
    name: str
    email: str
    role: str
    """end-user | agent | admin"""
    created_at: datetime
    customer: Customer | None = None
    group_id: int | None = None
    organization_id: int | None = None
    suspended_at: datetime | None = None

    def updated_at(self, now: datetime) -> datetime:
        stamps = [self.created_at]
        if self.suspended_at is not None and self.suspended_at <= now:
            stamps.append(self.suspended_at)
        return max(stamps)


@dataclass
class Comment:
    id: int
    author_id: int
    public: bool
    body: str
    by_agent: bool


@dataclass
class Update:
    """One audit: who changed what at which instant (and the comment it carried)."""

    id: int
    at: datetime
    author_id: int
    changes: dict[str, tuple[Any, Any]]
    comment: Comment | None = None
    via: str = "web"
    """web | email | api | rule (automations, triggers) | merge"""


@dataclass
class MetricEvent:
    id: int
    ticket_id: int
    metric: str
    instance_id: int
    type: str
    time: datetime
    sla: dict[str, Any] | None = None
    status: dict[str, int] | None = None
    deleted: bool = False


@dataclass
class SlaInstance:
    """One SLA target measured on one ticket: the simulator's own SLA state."""

    ticket_id: int
    policy_id: int
    policy_title: str
    metric: str
    """The policy metric: first_reply_time, next_reply_time, periodic_update_time, requester_wait_time."""
    event_metric: str
    instance_id: int
    target: int
    business_hours: bool
    applied_at: datetime
    breach_at: datetime | None
    fulfillments: list[tuple[datetime, str]]
    """(time, 'fulfill' | 'activate') after the first activation: the clock's stops and restarts."""

    def state(self, at: datetime) -> str:
        """breached | achieved | active (as of `at`; the instance must be applied by then)."""
        if self.breach_at is not None and self.breach_at <= at:
            return "breached"
        last = [kind for t, kind in self.fulfillments if t <= at]
        return "achieved" if last and last[-1] == "fulfill" else "active"

    def final_fulfilled_at(self, at: datetime) -> datetime | None:
        seen = [(t, kind) for t, kind in self.fulfillments if t <= at]
        return seen[-1][0] if seen and seen[-1][1] == "fulfill" else None


@dataclass
class Rating:
    """A legacy satisfaction rating: created when offered, updated when the customer rates."""

    id: int
    ticket_id: int
    requester_id: int
    assignee_id: int | None
    group_id: int | None
    offered_at: datetime
    rated_at: datetime | None
    score: str | None
    """good | bad (None while only offered)"""
    comment: str | None = None
    reason: str | None = None

    def score_at(self, at: datetime) -> str:
        if self.rated_at is not None and self.rated_at <= at:
            return str(self.score)
        return "offered"

    def updated_at(self, at: datetime) -> datetime:
        return self.rated_at if self.rated_at is not None and self.rated_at <= at else self.offered_at


@dataclass
class SurveyResponse:
    """A response to the 1-5 CSAT survey."""

    id: str
    ticket_id: int
    responder_id: int
    assignee_id: int | None
    offered_at: datetime
    responded_at: datetime
    rating: int
    comment: str | None = None


@dataclass
class Ticket:
    id: int
    requester_id: int
    subject: str
    description: str
    type: str
    channel: str
    created_at: datetime
    order: Order | None
    updates: list[Update] = field(default_factory=list)
    fate: str | None = None
    """None | deleted | spam | merged"""
    fate_at: datetime | None = None
    merged_into: int | None = None
    policy_id: int | None = None
    metric_events: list[MetricEvent] = field(default_factory=list)
    sla_instances: list[SlaInstance] = field(default_factory=list)
    rating: Rating | None = None
    survey: SurveyResponse | None = None

    def state(self, at: datetime) -> dict[str, Any]:
        """Field values as of `at` (the replay of every update stamped <= at)."""
        fields: dict[str, Any] = {}
        for u in self.updates:
            if u.at > at:
                break
            for name, (_old, new) in u.changes.items():
                fields[name] = new
        return fields

    def visible_updates(self, at: datetime) -> list[Update]:
        return [u for u in self.updates if u.at <= at]

    def updated_at(self, at: datetime) -> datetime:
        return self.visible_updates(at)[-1].at

    def status_at(self, at: datetime) -> str:
        return str(self.state(at)["status"])

    def excluded(self, at: datetime) -> bool:
        """Deleted, spam or merged away as of `at`: never counted as open, solved or breached."""
        return self.fate is not None and self.fate_at is not None and self.fate_at <= at


@dataclass
class ZendeskWorld:
    subdomain: str
    schedule: Schedule
    groups: list[Group]
    organizations: list[Organization]
    users: list[User]
    policies: list[SlaPolicy]
    tickets: list[Ticket]
    """Ordered by id (= by creation time)."""

    def __post_init__(self) -> None:
        self.users_by_id = {u.id: u for u in self.users}
        self.users_by_email = {u.email: u for u in self.users}
        self.tickets_by_id = {t.id: t for t in self.tickets}
        self.policies_by_id = {p.id: p for p in self.policies}
        self.groups_by_id = {g.id: g for g in self.groups}
        self.agents = [u for u in self.users if u.role in ("agent", "admin")]
        self.metric_events = sorted((e for t in self.tickets for e in t.metric_events), key=lambda e: (e.time, e.id))
        self.ratings = sorted((t.rating for t in self.tickets if t.rating is not None), key=lambda r: r.id)
        self.survey_responses = sorted((t.survey for t in self.tickets if t.survey is not None), key=lambda s: s.responded_at)

    def visible_tickets(self, at: datetime) -> list[Ticket]:
        return [t for t in self.tickets if t.created_at <= at]

    def visible_users(self, at: datetime) -> list[User]:
        return [u for u in self.users if u.created_at <= at]

    @property
    def admin(self) -> User:
        return next(u for u in self.users if u.role == "admin")


def zendesk_id(*parts: Any) -> str:
    """A ULID-looking id for new-CSAT objects (Zendesk's survey responses use string ids)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return "01" + "".join(alphabet[b % 32] for b in digest[:24])


def _minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


US_HOLIDAYS = (
    ("Thanksgiving", date(2025, 11, 27)), ("Christmas Day", date(2025, 12, 25)), ("New Year's Day", date(2026, 1, 1)),
    ("Memorial Day", date(2026, 5, 25)), ("Independence Day (observed)", date(2026, 7, 3)),
    ("Labor Day", date(2026, 9, 7)), ("Thanksgiving", date(2026, 11, 26)), ("Christmas Day", date(2026, 12, 25)),
    ("New Year's Day", date(2027, 1, 1)),
)
AGENT_NAMES = ("Maya Chen", "Jonas Berg", "Priya Raman", "Tomás Ortega", "Hana Sato", "Leo Dubois", "Ines Novak")
GROUPS = (
    ("Orders & Shipping", "Where is my order, returns, damaged parcels"),
    ("Subscriptions & Billing", "Coffee club, payments, refunds"),
    ("Coffee & Gear", "Brewing help, grinder and kettle issues"),
)
SUBJECTS = {
    0: ("Where is my order #{n}?", "Order #{n} has not arrived yet, can you check the tracking?"),
    1: ("Refund for order #{n}", "I would like a refund for part of order #{n}."),
    2: ("Damaged item in order #{n}", "One item in order #{n} arrived damaged."),
    3: ("Change the address on order #{n}", "Can I still change the shipping address of order #{n}?"),
}
GENERAL_SUBJECTS = (
    ("Grinder setting for the V60", "Which grind size do you recommend for the ceramic dripper?", 2),
    ("Pause my coffee club", "I am travelling next month, can I pause my subscription?", 1),
    ("Double charge on my card", "I was charged twice this month.", 1),
    ("Decaf availability", "When is the Swiss Water decaf back in stock?", 2),
)
PRIORITY_WEIGHTS = (("urgent", 4), ("high", 18), ("normal", 63), ("low", 15))
REPLY_DELAY_MEAN = {"urgent": 35, "high": 110, "normal": 320, "low": 640}
"""Mean agent reply delay in minutes: calendar minutes for urgent (on call), business minutes otherwise."""


def _policies(start: datetime) -> list[SlaPolicy]:
    def metrics(spec: dict[str, list[tuple[str, int, bool]]]) -> list[PolicyMetric]:
        return [PolicyMetric(p, m, t, b) for p, rows in spec.items() for m, t, b in rows]

    vip = SlaPolicy(
        360_000_201, "Wholesale and cafés", "Tighter targets for our wholesale and café accounts", 1,
        {"all": [{"field": "organization_id", "operator": "is_not", "value": ""}], "any": []},
        metrics({
            "urgent": [("first_reply_time", 30, False), ("next_reply_time", 60, False), ("periodic_update_time", 180, False),
                       ("requester_wait_time", 480, False)],
            "high": [("first_reply_time", 60, True), ("next_reply_time", 120, True), ("requester_wait_time", 720, True)],
            "normal": [("first_reply_time", 240, True), ("next_reply_time", 240, True), ("requester_wait_time", 1440, True)],
            "low": [("first_reply_time", 480, True), ("requester_wait_time", 2880, True)],
        }),
        start, start + timedelta(days=30),
    )
    standard = SlaPolicy(
        360_000_202, "Standard support", "Every other customer ticket (tasks excluded)", 2,
        {"all": [{"field": "type", "operator": "is_not", "value": "task"}], "any": []},
        metrics({
            "urgent": [("first_reply_time", 60, False), ("next_reply_time", 120, False), ("periodic_update_time", 240, False),
                       ("requester_wait_time", 960, False)],
            "high": [("first_reply_time", 120, True), ("next_reply_time", 240, True), ("requester_wait_time", 960, True)],
            "normal": [("first_reply_time", 480, True), ("next_reply_time", 480, True), ("requester_wait_time", 2400, True)],
            "low": [("first_reply_time", 960, True), ("requester_wait_time", 4800, True)],
        }),
        start, start + timedelta(days=30),
    )
    return [vip, standard]


class _Builder:
    def __init__(self, world: World) -> None:
        self.world = world
        self.rng = stable_rng(world.seed, world.scale.name, "zendesk")
        start = world.start_time
        self.start = start
        self.schedule = Schedule(
            SCHEDULE_ID, "Support hours (UTC)", "UTC",
            [(d * 1440 + 14 * 60, d * 1440 + 22 * 60) for d in range(1, 6)],
            [Holiday(360_000_400 + i, name, day, day) for i, (name, day) in enumerate(US_HOLIDAYS)],
            start,
        )
        self.groups = [Group(GROUP_ID_BASE + i, name, desc, start) for i, (name, desc) in enumerate(GROUPS)]
        self.users: list[User] = [User(AGENT_ID_BASE, "Northwind Support Admin", "support-admin@northwind.example", "admin", start)]
        for i, name in enumerate(AGENT_NAMES):
            first = name.split()[0].lower()
            self.users.append(User(AGENT_ID_BASE + 1 + i, name, f"{first}.agent@northwind.example", "agent", start,
                                   group_id=self.groups[i % len(self.groups)].id))
        self.agents_by_group: dict[int, list[User]] = {}
        for u in self.users[1:]:
            assert u.group_id is not None
            self.agents_by_group.setdefault(u.group_id, []).append(u)
        self.organizations = [
            Organization(ORG_ID_BASE + 1, "Wholesale partners", "wholesale", start),
            Organization(ORG_ID_BASE + 2, "Café accounts", "cafe", start),
        ]
        self.policies = _policies(start)
        self.end_users: dict[int, User] = {}
        self.tickets: list[Ticket] = []
        self.seq = {"update": 0, "comment": 0, "metric": 0, "rating": 0}
        self._people: dict[int, User] = {}
        self._people_count = -1

    # --- ids ---------------------------------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        self.seq[kind] += 1
        base = {"update": 20_000_000_000_000, "comment": 30_000_000_000_000, "metric": 10_000_000_000_000, "rating": 40_000_000_000}[kind]
        return base + self.seq[kind] * 16  # room for the ids of an audit's child events

    # --- people -------------------------------------------------------------------------------------------------
    def requester(self, customer: Customer, at: datetime) -> User:
        user = self.end_users.get(customer.id)
        if user is None:
            org = next((o.id for o in self.organizations if o.tag in customer.tags), None)
            user = User(USER_ID_BASE + len(self.end_users) * 13 + 1, f"{customer.first_name} {customer.last_name}", customer.email,
                        "end-user", at, customer=customer, organization_id=org)
            self.end_users[customer.id] = user
        return user

    def visitor(self, n: int, at: datetime, spammer: bool) -> User:
        key = -(n + 1)
        name = ("Promo Bot" if spammer else "Site Visitor") + f" {n}"
        email = f"{'promo' if spammer else 'visitor'}.{n}@example.org"
        user = User(USER_ID_BASE + len(self.end_users) * 13 + 1, name, email, "end-user", at)
        self.end_users[key] = user
        return user

    def person(self, user_id: int) -> User:
        """Agents and end users by id (a scan per ticket made the large world's build quadratic: 20k x 11k)."""
        count = len(self.users) + len(self.end_users)
        if self._people_count != count:  # rebuilt if anyone was added since
            self._people = {}
            for u in [*self.users, *self.end_users.values()]:
                self._people.setdefault(u.id, u)
            self._people_count = count
        return self._people[user_id]

    # --- time helpers -------------------------------------------------------------------------------------------
    def agent_time(self, after: datetime, priority: str, factor: float = 1.0) -> datetime:
        mean = REPLY_DELAY_MEAN[priority] * factor
        delay = max(2.0, self.rng.expovariate(1 / mean))
        if priority == "urgent":
            return _minute(after + timedelta(minutes=round(delay)))
        return _minute(self.schedule.add_business_minutes(_minute(after), round(delay)))

    def load_factor(self, at: datetime) -> float:
        """Agents answer more slowly in the post-Black-Friday rush and in December."""
        for bf in BLACK_FRIDAYS:
            if bf <= at.date() <= bf + timedelta(days=10):
                return 2.2
        return 1.5 if at.month == 12 else 1.0

    # --- tickets ------------------------------------------------------------------------------------------------
    def build(self) -> ZendeskWorld:
        drafts: list[tuple[datetime, str, Any]] = []
        w = self.world
        rng = self.rng
        for order in w.orders:
            surge = any(bf <= order.created_at.date() <= bf + timedelta(days=35) for bf in BLACK_FRIDAYS)
            if rng.random() < (0.75 if surge else 0.45):
                created = _minute(order.created_at + timedelta(hours=rng.uniform(2, 24 * 9)))
                drafts.append((created, "order", order))
        for customer in w.customers:
            if rng.random() < 0.25:
                created = _minute(customer.created_at + timedelta(days=rng.uniform(1, 300)))
                drafts.append((created, "general", customer))
        for n in range(max(2, w.scale.customers // 40)):
            created = _minute(w.start_time + timedelta(days=rng.uniform(5, (w.end_time - w.start_time).days - 1)))
            drafts.append((created, "spam" if n % 2 == 0 else "visitor", n))
        drafts = [d for d in drafts if d[0] < w.end_time]
        drafts.sort(key=lambda d: (d[0], d[1], str(getattr(d[2], "id", d[2]))))
        for created, kind, obj in drafts:
            self.ticket(created, kind, obj)
        self.tickets.sort(key=lambda t: (t.created_at, t.id))
        for i, t in enumerate(self.tickets):
            t.id = TICKET_ID_START + i
        self.duplicates()
        for t in self.tickets:
            self.metrics(t)
            self.satisfaction(t)
        for t in self.tickets:
            t.updates.sort(key=lambda u: (u.at, u.id))
        users = self.users + sorted(self.end_users.values(), key=lambda u: u.id)
        return ZendeskWorld(SUBDOMAIN, self.schedule, self.groups, self.organizations, users, self.policies, self.tickets)

    def ticket(self, created: datetime, kind: str, obj: Any) -> None:
        rng = self.rng
        order: Order | None = None
        if kind == "order":
            order = obj
            assert order is not None
            requester = self.requester(self.world.customer_by_id(order.customer_id), created)
            template = rng.randrange(len(SUBJECTS))
            subject, description = (s.format(n=order.number) for s in SUBJECTS[template])
            group = self.groups[1 if template == 1 else 0]
            ttype = "incident" if template == 2 else "question"
        elif kind == "general":
            requester = self.requester(obj, created)
            subject, description, g = rng.choice(GENERAL_SUBJECTS)
            group, ttype = self.groups[g], "question"
        elif kind == "visitor":
            requester = self.visitor(obj, created, spammer=False)
            subject, description, group, ttype = "Do you ship to Norway?", "Hi, do you ship coffee to Norway?", self.groups[0], "question"
        else:
            requester = self.visitor(obj, created, spammer=True)
            subject, description, group, ttype = "Boost your sales 300%", "Cheap followers and reviews, click here", self.groups[0], "question"
        requester.created_at = min(requester.created_at, created)
        priority = "normal" if kind == "spam" else rng.choices([p for p, _ in PRIORITY_WEIGHTS], [w for _, w in PRIORITY_WEIGHTS])[0]
        ticket = Ticket(0, requester.id, subject, description, ttype, "email" if rng.random() < 0.7 else "web", created, order)
        self.tickets.append(ticket)
        tags = sorted({group.name.split()[0].lower(), *(["order"] if order else [])})
        fields: dict[str, tuple[Any, Any]] = {
            "status": (None, "new"), "priority": (None, priority), "group_id": (None, group.id), "assignee_id": (None, None),
            "tags": (None, tags), "satisfaction_score": (None, "unoffered"),
        }
        self.add(ticket, created, requester.id, fields, Comment(self.next_id("comment"), requester.id, True, description, False),
                 via=ticket.channel)
        if kind == "spam":
            at = self.agent_time(created, "normal")
            self.add(ticket, at, self.users[1].id, {"status": ("new", "deleted")}, via="web")
            ticket.fate, ticket.fate_at = "spam", at
            requester.suspended_at = at
            return
        if kind != "visitor" and rng.random() < 0.05 and priority == "normal":
            # The customer writes again within the hour and an agent (or a trigger) escalates the ticket.
            at = _minute(created + timedelta(minutes=rng.randint(10, 30)))
            self.add(ticket, at, self.users[0].id, {"priority": ("normal", "high")}, via="rule")
            priority = "high"
        self.lifecycle(ticket, group, priority)
        if kind != "visitor" and rng.random() < 0.012:
            # A test ticket an admin deletes some days later.
            at = _minute(created + timedelta(days=rng.uniform(0.5, 6)))
            if at < self.world.end_time:
                ticket.updates = [u for u in ticket.updates if u.at < at]
                self.add(ticket, at, self.users[0].id, {"status": (ticket.state(at)["status"], "deleted")}, via="web")
                ticket.fate, ticket.fate_at = "deleted", at

    def add(self, ticket: Ticket, at: datetime, author: int, changes: dict[str, tuple[Any, Any]], comment: Comment | None = None,
            via: str = "web") -> Update:
        update = Update(self.next_id("update"), at, author, changes, comment, via)
        ticket.updates.append(update)
        return update

    def agent_comment(self, ticket: Ticket, at: datetime, agent: User, changes: dict[str, tuple[Any, Any]], text: str) -> None:
        self.add(ticket, at, agent.id, changes, Comment(self.next_id("comment"), agent.id, True, text, True))

    def lifecycle(self, ticket: Ticket, group: Group, priority: str) -> None:
        rng, end = self.rng, self.world.end_time
        agent = rng.choice(self.agents_by_group[group.id])
        factor = self.load_factor(ticket.created_at)
        status = "new"
        waiting_since = ticket.created_at
        rounds = 0
        assigned = False
        while True:
            at = self.agent_time(waiting_since, priority, factor)
            if rng.random() < 0.15:
                # An internal note first (not a public reply: it must not fulfil the reply metrics).
                note_at = _minute(waiting_since + (at - waiting_since) / 2)
                if note_at > waiting_since:
                    self.add(ticket, note_at, agent.id, {}, Comment(self.next_id("comment"), agent.id, False, "Checking with the warehouse.", True))
            if at >= end:
                return
            changes: dict[str, tuple[Any, Any]] = {}
            if not assigned:
                changes["assignee_id"] = (None, agent.id)
                assigned = True
            rounds += 1
            roll = rng.random()
            solve_p = 0.42 if rounds == 1 else 0.6
            if roll < solve_p:
                changes["status"] = (status, "solved")
                self.agent_comment(ticket, at, agent, changes, "This should be sorted now, let us know if not.")
                if rng.random() < 0.08:
                    back = _minute(at + timedelta(hours=rng.uniform(1, 20)))
                    if back >= end:
                        return
                    self.add(ticket, back, ticket.requester_id, {"status": ("solved", "open")},
                             Comment(self.next_id("comment"), ticket.requester_id, True, "Sorry, it is still not working.", False), via="email")
                    status, waiting_since = "open", back
                    continue
                self.close(ticket, at)
                return
            if roll < solve_p + 0.33:
                changes["status"] = (status, "pending")
                self.agent_comment(ticket, at, agent, changes, "Could you send us a photo of the label?")
                status = "pending"
                if rng.random() < 0.85:
                    back = _minute(at + timedelta(hours=rng.uniform(0.5, 40)))
                    if back >= end:
                        return
                    self.add(ticket, back, ticket.requester_id, {"status": ("pending", "open")},
                             Comment(self.next_id("comment"), ticket.requester_id, True, "Here it is.", False), via="email")
                    status, waiting_since = "open", back
                    continue
                solved = _minute(at + PENDING_AUTO_SOLVE)
                if solved >= end:
                    return
                self.add(ticket, solved, self.users[0].id, {"status": ("pending", "solved")}, via="rule")
                self.close(ticket, solved)
                return
            if roll < solve_p + 0.38:
                changes["status"] = (status, "hold")
                self.agent_comment(ticket, at, agent, changes, "We are waiting for the carrier, we will update you.")
                release = _minute(at + timedelta(hours=rng.uniform(3, 60)))
                if release >= end:
                    return
                if priority == "urgent" and release - at > timedelta(hours=3):
                    mid = _minute(at + timedelta(minutes=150))
                    self.agent_comment(ticket, mid, agent, {}, "Still waiting for the carrier, sorry for the delay.")
                self.agent_comment(ticket, release, agent, {"status": ("hold", "solved")}, "The carrier confirmed, all done.")
                self.close(ticket, release)
                return
            changes["status"] = (status, "open")
            self.agent_comment(ticket, at, agent, changes, "Thanks, we are looking into it.")
            status, waiting_since = "open", at

    def close(self, ticket: Ticket, solved_at: datetime) -> None:
        at = solved_at + CLOSE_AFTER
        if at < self.world.end_time:
            self.add(ticket, at, self.users[0].id, {"status": ("solved", "closed")}, via="rule")

    def duplicates(self) -> None:
        """Some customers write twice: the duplicate is merged into the original at the original's first reply."""
        rng = self.rng
        extra: list[Ticket] = []
        for original in list(self.tickets):
            if original.fate is not None or original.order is None or rng.random() >= 0.04:
                continue
            first_reply = next((u for u in original.updates if u.comment and u.comment.by_agent and u.comment.public), None)
            created = _minute(original.created_at + timedelta(minutes=rng.randint(5, 90)))
            if first_reply is None or first_reply.at <= created:
                continue
            dup = Ticket(0, original.requester_id, "Re: " + original.subject, original.description, original.type, "email", created, original.order)
            priority = original.state(original.created_at)["priority"]
            self.add(dup, created, original.requester_id,
                     {"status": (None, "new"), "priority": (None, priority), "group_id": (None, original.state(created)["group_id"]),
                      "assignee_id": (None, None), "tags": (None, list(original.state(created)["tags"])), "satisfaction_score": (None, "unoffered")},
                     Comment(self.next_id("comment"), original.requester_id, True, original.description, False), via="email")
            at = first_reply.at
            tags = sorted({*original.state(created)["tags"], "closed_by_merge"})
            self.add(dup, at, first_reply.author_id, {"status": ("new", "closed"), "tags": (None, tags)},
                     Comment(self.next_id("comment"), first_reply.author_id, False, f"Closed and merged into #{original.id}.", True), via="merge")
            dup.fate, dup.fate_at, dup.merged_into = "merged", at, original.id
            self.add(original, at, first_reply.author_id, {},
                     Comment(self.next_id("comment"), first_reply.author_id, False, "Request was merged into this ticket.", True), via="merge")
            extra.append(dup)
        if extra:
            self.tickets.extend(extra)
            self.tickets.sort(key=lambda t: (t.created_at, t.updates[0].id))
            remap = {}
            for i, t in enumerate(self.tickets):
                remap[t.id or -id(t)] = TICKET_ID_START + i
            for i, t in enumerate(self.tickets):
                t.id = TICKET_ID_START + i
            for t in self.tickets:
                if t.merged_into is not None:
                    t.merged_into = remap.get(t.merged_into, t.merged_into)
                for u in t.updates:
                    if u.comment and u.comment.body.startswith("Closed and merged into #") and t.merged_into is not None:
                        u.comment.body = f"Closed and merged into #{t.merged_into}."

    # --- metrics and SLAs ---------------------------------------------------------------------------------------
    def policy_for(self, ticket: Ticket) -> SlaPolicy | None:
        requester = self.person(ticket.requester_id)
        if ticket.type == "task":
            return None
        return self.policies[0] if requester.organization_id is not None else self.policies[1]

    def metrics(self, ticket: Ticket) -> None:
        """Zendesk's metric events for the ticket, and the SLA instances they measure."""
        sched = self.schedule
        stop = min(ticket.fate_at or self.world.end_time, self.world.end_time)
        policy = self.policy_for(ticket)
        ticket.policy_id = policy.id if policy else None
        events: list[MetricEvent] = []

        def emit(metric: str, instance: int, kind: str, at: datetime, **extra: Any) -> None:
            events.append(MetricEvent(0, ticket.id, metric, instance, kind, at, **extra))

        # Status intervals and public comments, from the updates.
        statuses: list[tuple[datetime, str]] = []
        comments: list[tuple[datetime, bool]] = []  # (at, by_agent) for public comments
        priorities: list[tuple[datetime, str]] = []
        for u in sorted(ticket.updates, key=lambda u: (u.at, u.id)):
            if "status" in u.changes:
                statuses.append((u.at, u.changes["status"][1]))
            if "priority" in u.changes:
                priorities.append((u.at, u.changes["priority"][1]))
            if u.comment is not None and u.comment.public:
                comments.append((u.at, u.comment.by_agent))

        def priority_at(t: datetime) -> str:
            return [p for at, p in priorities if at <= t][-1]

        def status_at(t: datetime) -> str:
            return [s for at, s in statuses if at <= t][-1]

        created = ticket.created_at
        solves = [at for at, s in statuses if s == "solved"]

        # Clock segments per instance: list of (start, end) when the clock runs, plus fulfil/activate marks.
        def measure(metric: str, instance: int, segments: list[tuple[datetime, datetime]], marks: list[tuple[datetime, str]],
                    sla_metric: str | None, applied_at: datetime) -> None:
            emit(metric, instance, "activate", applied_at)
            applied: list[tuple[datetime, PolicyMetric]] = []
            if policy is not None and sla_metric is not None:
                first_fulfil = next((at for at, kind in marks if kind == "fulfill"), stop)
                initial = policy.target(priority_at(applied_at), sla_metric)
                if initial is not None:
                    applied.append((applied_at, initial))
                for at, p in priorities:
                    # A priority change while the clock is still open re-applies the policy with the new target.
                    new = policy.target(p, sla_metric)
                    if applied_at < at < min(first_fulfil, stop) and new is not None and (not applied or new != applied[-1][1]):
                        applied.append((at, new))
            breach_at = None
            if applied:
                breach_at = self.breach(segments, applied[-1][1], stop)
                if breach_at is not None and breach_at < applied[-1][0]:
                    breach_at = applied[-1][0]  # the new, shorter target was already exceeded when it was applied
            for at, pm in applied:
                assert policy is not None
                emit(metric, instance, "apply_sla", at, sla={
                    "target": pm.target, "target_in_seconds": pm.target * 60, "business_hours": pm.business_hours,
                    "policy": {"id": policy.id, "title": policy.title, "description": policy.description},
                })
            for at, kind in marks:
                if at >= stop:
                    break
                if kind == "fulfill":
                    calendar = sum(int((min(e, at) - s).total_seconds() // 60) for s, e in segments if s < at)
                    business = sum(sched.business_minutes(s, min(e, at)) for s, e in segments if s < at)
                    emit(metric, instance, "fulfill", at)
                    emit(metric, instance, "update_status", at, status={"calendar": calendar, "business": business})
                else:
                    emit(metric, instance, kind, at)
            if breach_at is not None and breach_at < stop:
                emit(metric, instance, "breach", breach_at)
            else:
                breach_at = None
            if applied and sla_metric is not None and policy is not None:
                last = applied[-1][1]
                ticket.sla_instances.append(SlaInstance(
                    ticket.id, policy.id, policy.title, sla_metric, metric, instance, last.target, last.business_hours, applied_at,
                    breach_at, [(at, kind) for at, kind in marks if at < stop and kind in ("fulfill", "activate")],
                ))

        # reply_time: instance 1 from creation to the first public agent comment; a further instance from each
        # end-user comment that follows an answered state, to the next public agent comment.
        instance, active_since = 1, created
        waiting = True
        for at, by_agent in comments[1:]:
            if at >= stop:
                break
            if by_agent and waiting:
                measure("reply_time", instance, [(active_since, at)], [(at, "fulfill")],
                        "first_reply_time" if instance == 1 else "next_reply_time", active_since)
                waiting = False
                instance += 1
            elif not by_agent and not waiting:
                if status_at(at) in ("closed",):
                    break
                active_since, waiting = at, True
        if waiting:
            measure("reply_time", instance, [(active_since, stop)], [], "first_reply_time" if instance == 1 else "next_reply_time", active_since)

        # Pausable metrics: clock runs while the status is in RUNNING[metric].
        for metric in ("requester_wait_time", "agent_work_time"):
            segs: list[tuple[datetime, datetime]] = []
            marks: list[tuple[datetime, str]] = []
            running = RUNNING[metric]
            for i, (at, s) in enumerate(statuses):
                if at >= stop:
                    break
                until = statuses[i + 1][0] if i + 1 < len(statuses) else stop
                until = min(until, stop)
                prev = statuses[i - 1][1] if i else None
                if s in running:
                    segs.append((at, until))
                    if prev is not None and prev not in running:
                        marks.append((at, "activate"))
                elif s == "solved" and prev != "solved":
                    marks.append((at, "fulfill"))  # solving fulfils the metric, paused or not
                elif prev is not None and prev in running:
                    marks.append((at, "pause"))
            merged: list[tuple[datetime, datetime]] = []
            for seg_start, seg_end in segs:
                if merged and merged[-1][1] == seg_start:
                    merged[-1] = (merged[-1][0], seg_end)
                elif seg_start < seg_end:
                    merged.append((seg_start, seg_end))
            measure(metric, 1, merged, marks, "requester_wait_time" if metric == "requester_wait_time" else None, created)

        # periodic_update_time: only where the policy sets it (urgent): from each public agent comment to the next
        # one (or the solve).
        if policy and any(m.metric == "periodic_update_time" and m.priority == priority_at(created) for m in policy.policy_metrics):
            agent_comments = [at for at, by_agent in comments if by_agent and at < stop]
            for k, at in enumerate(agent_comments, start=1):
                if status_at(at) in ("solved", "closed"):
                    break
                nxt = next((c for c in agent_comments if c > at), None)
                solve = next((t for t in solves if t > at), None)
                end_at = min([t for t in (nxt, solve) if t is not None], default=stop)
                marks = [(end_at, "fulfill")] if end_at < stop else []
                measure("periodic_update_time", k, [(at, end_at)], marks, "periodic_update_time", at)

        order = ("activate", "apply_sla", "pause", "breach", "fulfill", "update_status")
        events.sort(key=lambda ev: (ev.time, order.index(ev.type), ev.metric, ev.instance_id))
        for ev in events:
            ev.id = self.next_id("metric")
        ticket.metric_events = events

    def breach(self, segments: list[tuple[datetime, datetime]], target: PolicyMetric, stop: datetime) -> datetime | None:
        """The instant the running clock reaches the target (business or calendar minutes), if before `stop`."""
        remaining = float(target.target)
        for s, e in segments:
            e = min(e, stop)
            if s >= e:
                continue
            span = self.schedule.business_minutes(s, e) if target.business_hours else (e - s).total_seconds() / 60
            if span >= remaining:
                at = self.schedule.add_business_minutes(s, remaining) if target.business_hours else s + timedelta(minutes=remaining)
                # Reaching the target exactly at the fulfil instant is not a breach.
                return at if at < e else None
            remaining -= span
        return None

    # --- satisfaction -------------------------------------------------------------------------------------------
    def satisfaction(self, ticket: Ticket) -> None:
        if ticket.fate is not None:
            return
        solves = [u.at for u in ticket.updates if u.changes.get("status", (None, None))[1] == "solved"]
        if not solves:
            return
        solved = solves[-1]
        offered = solved + SURVEY_AFTER
        if offered >= self.world.end_time:
            return
        reopened_after = [u for u in ticket.updates if u.at > solved and u.changes.get("status", (None, None))[1] == "open"]
        if reopened_after:
            return
        r = stable_rng(self.world.seed, self.world.scale.name, "zendesk-csat", ticket.id)
        state = ticket.state(solved)
        assignee, group = state.get("assignee_id"), state.get("group_id")
        breached = any(i.breach_at is not None for i in ticket.sla_instances)
        answered_at = _minute(offered + timedelta(minutes=r.uniform(5, 60 * 60)))
        answers = r.random() < 0.38 and answered_at < self.world.end_time
        if solved < CSAT_SWITCH:
            self.seq["rating"] += 1
            rating = Rating(40_000_000_000 + self.seq["rating"] * 11, ticket.id, ticket.requester_id, assignee, group, offered,
                            answered_at if answers else None, None)
            self.add(ticket, offered, self.users[0].id, {"satisfaction_score": ("unoffered", "offered")}, via="rule")
            if answers:
                rating.score = "good" if r.random() < (0.62 if breached else 0.88) else "bad"
                if r.random() < 0.4:
                    rating.comment = "Quick and friendly, thanks!" if rating.score == "good" else "Took far too long."
                if rating.score == "bad" and r.random() < 0.5:
                    rating.reason = "The issue took too long to resolve"
                self.add(ticket, answered_at, ticket.requester_id, {"satisfaction_score": ("offered", rating.score)}, via="web")
            ticket.rating = rating
        elif answers:
            weights = (8, 7, 10, 25, 50) if not breached else (18, 14, 18, 25, 25)
            score = r.choices((1, 2, 3, 4, 5), weights)[0]
            ticket.survey = SurveyResponse(zendesk_id(self.world.seed, "survey", ticket.id), ticket.id, ticket.requester_id, assignee,
                                           offered, answered_at, score, "Great coffee advice" if score >= 4 and r.random() < 0.3 else None)


def generate(world: World) -> ZendeskWorld:
    """Build Zendesk's part of `world` (called once by `world.extension("zendesk")`)."""
    return _Builder(world).build()
