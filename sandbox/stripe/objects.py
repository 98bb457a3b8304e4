"""Every Stripe object the world implies, addressable by kind and id, rendered at a version, expanded on request.

- `KINDS`: the object kinds the simulator serves (list and retrieve), each with its source in the world.
- `expansion_tree`: `expand[]` paths checked against the spec's `x-expandableFields` (plus the fields that became
  expandable since, minus those Basil removed), walking the schemas the way Stripe does (`data.` on lists, nested
  `invoice.customer`, at most four levels).
- `Renderer`: one object as of an instant and a version, with includable fields (a charge's `refunds`) left out
  unless expanded.
- `FILTERS`: every documented filter of every served list, as a predicate on the world objects (a test checks the
  spec lists no filter that is missing here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.common.openapi import OpenAPISpec

from . import legacy, render
from .versions import EXPANDABLE_ADDED, EXPANDABLE_REMOVED, INCLUDABLE, Version
from .world import Invoice, Line, StripeWorld, Subscription

MAX_EXPAND_DEPTH = 4


class StripeRequestError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


# --- derived collections (cached on the StripeWorld: the world is immutable once generated) -------------------------


def _derived(sw: StripeWorld, name: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    cache = sw.__dict__.setdefault("_derived", {})
    if name not in cache:
        cache[name] = build()
    return cache[name]  # type: ignore[no-any-return]


def plans(sw: StripeWorld) -> dict[str, Any]:
    """Every recurring price has a plan mirror with the same id (as Stripe keeps for prices made through Prices)."""
    return _derived(sw, "plans", lambda: {pid: p for pid, p in sw.prices.items() if p.recurring})


def invoice_items(sw: StripeWorld) -> dict[str, tuple[Line, Invoice]]:
    """One-off lines are invoice items (`ii_...`), already named by their line's `parent.invoice_item_details`."""

    def build() -> dict[str, tuple[Line, Invoice]]:
        return {render.invoice_item_id(line): (line, inv) for inv in sw.invoices.values() for line in inv.lines if line.kind == "invoice_item_details"}

    return _derived(sw, "invoiceitems", build)


def subscription_items(sw: StripeWorld) -> dict[str, Subscription]:
    """Item id -> its subscription (items keep their id across price and quantity changes)."""

    def build() -> dict[str, Subscription]:
        out: dict[str, Subscription] = {}
        for sub in sw.subscriptions.values():
            for version in sub.versions:
                for item in version.items:
                    out.setdefault(item.id, sub)
        return out

    return _derived(sw, "subscription_items", build)


@dataclass(frozen=True)
class Kind:
    name: str
    path: str
    """The list path under /v1."""
    source: Callable[[StripeWorld], Mapping[str, Any]]
    created: Callable[[Any], int]
    visible: Callable[[Any, StripeWorld, int], bool] | None = None
    """Beyond `created <= now` (e.g. a subscription item only while its subscription has it)."""


def _c(obj: Any) -> int:
    return int(obj["created"] if isinstance(obj, dict) else obj.created)


def _item_visible(sub: Subscription, sw: StripeWorld, at: int) -> bool:
    return sub.at(at) is not None


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("customer", "customers", lambda sw: sw.customers, _c),
        Kind("product", "products", lambda sw: sw.products, _c),
        Kind("price", "prices", lambda sw: sw.prices, _c),
        Kind("plan", "plans", plans, _c),
        Kind("coupon", "coupons", lambda sw: sw.coupons, _c),
        Kind("subscription", "subscriptions", lambda sw: sw.subscriptions, _c),
        Kind("subscription_item", "subscription_items", subscription_items, _c),
        Kind("invoice", "invoices", lambda sw: sw.invoices, _c),
        Kind("invoiceitem", "invoiceitems", invoice_items, lambda li: li[1].created),
        Kind("charge", "charges", lambda sw: sw.charges, _c),
        Kind("payment_intent", "payment_intents", lambda sw: sw.payment_intents, _c),
        Kind("payment_method", "payment_methods", lambda sw: sw.payment_methods, _c),
        Kind("refund", "refunds", lambda sw: sw.refunds, _c),
        Kind("balance_transaction", "balance_transactions", lambda sw: sw.balance_transactions, _c),
        Kind("payout", "payouts", lambda sw: sw.payouts, _c),
        Kind("dispute", "disputes", lambda sw: sw.disputes, _c),
        Kind("discount", "", lambda sw: sw.discounts, lambda d: d.start),
    )
}
BY_PATH = {k.path: k for k in KINDS.values() if k.path}
PREFIXES = {
    "cus": "customer", "prod": "product", "price": "price", "sub": "subscription", "si": "subscription_item",
    "in": "invoice", "ii": "invoiceitem", "ch": "charge", "pi": "payment_intent", "pm": "payment_method",
    "re": "refund", "txn": "balance_transaction", "po": "payout", "dp": "dispute", "di": "discount",
}


def kind_of_id(object_id: str) -> str | None:
    return PREFIXES.get(object_id.split("_", 1)[0]) if "_" in object_id else None


def lookup(sw: StripeWorld, kind: str, object_id: str, at: int) -> Any:
    """The world object, or None when it does not exist (yet) at `at`."""
    spec = KINDS.get(kind)
    if spec is None:
        return None
    source = spec.source(sw).get(object_id)
    if source is None or spec.created(source) > at:
        return None
    if spec.visible is not None and not spec.visible(source, sw, at):
        return None
    return source


# --- expand[] ------------------------------------------------------------------------------------------------------


def expandable(spec: OpenAPISpec, schema: str, version: Version) -> set[str]:
    fields = set(spec.document["components"]["schemas"].get(schema, {}).get("x-expandableFields") or [])
    if not version.legacy:
        fields = (fields | EXPANDABLE_ADDED.get(schema, frozenset())) - EXPANDABLE_REMOVED.get(schema, frozenset())
    return fields


def _targets(spec: OpenAPISpec, node: Any) -> list[Any]:
    """The object schemas a property can hold once expanded (its `$ref`s, through anyOf and list items)."""
    node = node or {}
    if "$ref" in node:
        return [spec.resolve(node)]
    out = []
    for key in ("anyOf", "oneOf"):
        for branch in node.get(key, []):
            out += _targets(spec, branch)
    if node.get("type") == "array" and node.get("items"):
        out += _targets(spec, node["items"])
    if node.get("type") == "object" or "properties" in node:
        out.append(node)
    return out


def _schema_name(spec: OpenAPISpec, schema: Any) -> str | None:
    obj = (schema.get("properties") or {}).get("object") or {}
    values = obj.get("enum") or []
    return values[0] if len(values) == 1 and values[0] != "list" else None


def expansion_tree(spec: OpenAPISpec, root: list[Any], paths: list[str], version: Version) -> dict[str, Any]:
    """Check `expand[]` paths against the schemas from `root` and return them as a tree; unknown -> Stripe's 400."""
    tree: dict[str, Any] = {}
    for path in paths:
        segments = path.split(".")
        if len([s for s in segments if s != "data"]) > MAX_EXPAND_DEPTH:
            raise StripeRequestError(400, f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. Property: {path}", param="expand")
        schemas = root
        node = tree
        for seg in segments:
            nxt: list[Any] = []
            ok = False
            for schema in schemas:
                props = schema.get("properties") or {}
                name = _schema_name(spec, schema)
                is_list = "data" in props and (props.get("object") or {}).get("enum") == ["list"]
                if is_list and seg == "data":
                    ok = True
                    nxt += _targets(spec, props["data"])
                elif name and seg in expandable(spec, name, version) and (seg in props or not version.legacy):
                    ok = True
                    nxt += _targets(spec, props.get(seg)) if seg in props else []
            if not ok:
                raise StripeRequestError(400, f"This property cannot be expanded ({path}).", param="expand")
            node = node.setdefault(seg, {})
            schemas = nxt
    return tree


def tree_key(tree: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, tree_key(v)) for k, v in tree.items()))


# --- rendering -----------------------------------------------------------------------------------------------------


class Renderer:
    """Objects as of `at`, in `version`'s shapes. `cache` (optional) holds rendered objects for reuse."""

    def __init__(self, sw: StripeWorld, at: int, version: Version, spec: OpenAPISpec, cache: dict[Any, Any] | None = None) -> None:
        self.sw, self.at, self.version, self.spec = sw, at, version, spec
        self.cache = cache if cache is not None else {}

    def object(self, kind: str, object_id: str, tree: dict[str, Any] | None = None) -> dict[str, Any]:
        key = (kind, object_id, self.version.shapes, tree_key(tree or {}))
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = self.build(kind, object_id, tree or {})
        return found  # type: ignore[no-any-return]

    def by_id(self, object_id: str, tree: dict[str, Any]) -> Any:
        kind = kind_of_id(object_id)
        if kind is None or lookup(self.sw, kind, object_id, self.at) is None:
            return object_id  # not an object the world has (e.g. a bank account id): left as Stripe would fail to
        return self.object(kind, object_id, tree)

    def build(self, kind: str, object_id: str, tree: dict[str, Any]) -> dict[str, Any]:
        """A fresh rendering, not kept (`object` keeps it)."""
        obj = base(self.sw, kind, object_id, self.at)
        if self.version.legacy:
            obj = legacy.downgrade(self.spec, kind, obj, self.sw, self.at)
        return self.expand(kind, obj, tree) if tree else obj

    def expand(self, kind: str, obj: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
        out = dict(obj)
        for field, sub in tree.items():
            if field in INCLUDABLE.get(kind, ()):
                out[field] = self.includable(kind, obj, field, sub)
                continue
            if field in obj:  # an expandable field this object does not carry (e.g. a card's acss_debit) stays absent
                out[field] = self._expand_value(obj[field], sub)
        return out

    def _expand_value(self, value: Any, sub: dict[str, Any]) -> Any:
        if isinstance(value, str):
            return self.by_id(value, sub)
        if isinstance(value, list):
            return [self._expand_value(v, sub) for v in value]
        if isinstance(value, dict):
            if value.get("object") == "list":
                return {**value, "data": [self._expand_value(v, sub.get("data", {})) for v in value.get("data", [])]}
            kind = value.get("object")
            if isinstance(kind, str) and kind in KINDS:
                return self.expand(kind, value, sub) if sub else value
            return {**value, **{k: self._expand_value(value.get(k), s) for k, s in sub.items()}}
        return value

    def includable(self, kind: str, obj: dict[str, Any], field: str, sub: dict[str, Any]) -> Any:
        """Fields Stripe leaves out unless expanded: a charge's refunds, a customer's subscriptions and sources."""
        sw, at = self.sw, self.at
        if kind == "charge" and field == "refunds":
            charge = sw.charges[obj["id"]]
            ids = [r for r in charge.refunds if sw.refunds[r].created <= at]
            data = [self.object("refund", r, sub.get("data")) for r in sorted(ids, key=lambda r: -sw.refunds[r].created)]
            return render.list_object(f"/v1/charges/{charge.id}/refunds", data, False)
        if kind == "customer" and field == "subscriptions":
            subs = [s for s in sw.subscriptions.values() if s.customer == obj["id"] and s.created <= at and (v := s.at(at)) and v.status != "canceled"]
            data = [self.object("subscription", s.id, sub.get("data")) for s in sorted(subs, key=lambda s: -s.created)]
            return render.list_object(f"/v1/customers/{obj['id']}/subscriptions", data, False)
        if kind == "customer" and field in ("sources", "tax_ids"):
            return render.list_object(f"/v1/customers/{obj['id']}/{field}", [], False)
        if kind == "customer" and field == "invoice_credit_balance":
            return {}
        if kind == "customer" and field == "tax":
            return {"automatic_tax": "unrecognized_location", "ip_address": None, "location": None}
        return None


def base(sw: StripeWorld, kind: str, object_id: str, at: int) -> dict[str, Any]:
    """The CURRENT-version rendering of one world object (no expansion)."""
    if kind == "plan":
        return render.plan(sw.prices[object_id])
    if kind == "invoiceitem":
        line, inv = invoice_items(sw)[object_id]
        return render.invoiceitem(line, inv, sw)
    if kind == "subscription_item":
        sub = subscription_items(sw)[object_id]
        return render.standalone_subscription_item(sub, object_id, sw, at)
    if kind == "payment_intent":
        return render.payment_intent(sw.payment_intents[object_id], sw, at)
    if kind == "payment_method":
        return render.payment_method(sw.payment_methods[object_id], sw, at)
    if kind == "discount":
        return render.discount(sw.discounts[object_id])
    return render.render(kind, object_id, sw, at)


# --- list filters ----------------------------------------------------------------------------------------------------

Filter = Callable[[Any, Any, StripeWorld, int], bool]
"""(filter value as typed by the spec, world object, world, now) -> keep?"""


def _range(value: Any, actual: int | None) -> bool:
    if actual is None:
        return False
    if isinstance(value, int):
        return actual == value
    return all(
        {"gt": actual > v, "gte": actual >= v, "lt": actual < v, "lte": actual <= v}[op] for op, v in value.items()
    )


def _eq(get: Callable[[Any, StripeWorld, int], Any]) -> Filter:
    return lambda value, obj, sw, now: get(obj, sw, now) == value


def _none(_value: Any, _obj: Any, _sw: StripeWorld, _now: int) -> bool:
    """A filter on something no object in this world has (transfer groups, test clocks, shipping)."""
    return False


def _sub_status(value: str, sub: Subscription, sw: StripeWorld, now: int) -> bool:
    v = sub.at(now)
    current = v.status if v else "incomplete"
    return value == "all" or current == value or (value == "ended" and current == "canceled")


def _sub_period(index: int) -> Filter:
    def check(value: Any, sub: Subscription, sw: StripeWorld, now: int) -> bool:
        v = sub.at(now)
        return v is not None and _range(value, v.period[index])

    return check


def _sub_price(value: str, sub: Subscription, sw: StripeWorld, now: int) -> bool:
    v = sub.at(now)
    return v is not None and any(item.price == value for item in v.items)


def _event_type(value: str, event: Any, sw: StripeWorld, now: int) -> bool:
    return event.type == value or (value.endswith(".*") and event.type.startswith(value[:-1]))


def _payout_txns(value: str, txn: Any, sw: StripeWorld, now: int) -> bool:
    payout = sw.payouts.get(value)
    return payout is not None and payout.created <= now and txn.id in payout.transactions


def _invoice_status(value: str, inv: Invoice, sw: StripeWorld, now: int) -> bool:
    return render.invoice_status(inv, now) == value


def _price_recurring(value: dict[str, Any], price: Any, sw: StripeWorld, now: int) -> bool:
    if not price.recurring:
        return False
    return all({"interval": price.interval, "usage_type": price.usage_type, "meter": None}.get(k) == v for k, v in value.items())


def _pi_of_charge(c: Any, sw: StripeWorld, now: int) -> str | None:
    return sw.payment_intent_of_charge(c.id)


FILTERS: dict[str, dict[str, Filter]] = {
    "customers": {"email": _eq(lambda c, sw, now: c.email), "test_clock": _none},
    "products": {
        "active": lambda v, p, sw, now: v is True,
        "ids": lambda v, p, sw, now: p["id"] in v,
        "shippable": _none,
        "url": _none,
    },
    "prices": {
        "active": lambda v, p, sw, now: v is True,
        "currency": _eq(lambda p, sw, now: p.currency),
        "lookup_keys": lambda v, p, sw, now: p.key in v,
        "product": _eq(lambda p, sw, now: p.product),
        "recurring": _price_recurring,
        "type": _eq(lambda p, sw, now: "recurring" if p.recurring else "one_time"),
    },
    "plans": {"active": lambda v, p, sw, now: v is True, "product": _eq(lambda p, sw, now: p.product)},
    "coupons": {},
    "subscriptions": {
        "automatic_tax": lambda v, s, sw, now: v.get("enabled") is False,
        "collection_method": _eq(lambda s, sw, now: "charge_automatically"),
        "current_period_end": _sub_period(1),
        "current_period_start": _sub_period(0),
        "customer": _eq(lambda s, sw, now: s.customer),
        "price": _sub_price,
        "status": _sub_status,
        "test_clock": _none,
    },
    "subscription_items": {"subscription": _eq(lambda s, sw, now: s.id)},
    "invoices": {
        "collection_method": _eq(lambda i, sw, now: "charge_automatically"),
        "customer": _eq(lambda i, sw, now: i.customer),
        "due_date": _none,  # charge_automatically invoices have no due date
        "status": _invoice_status,
        "subscription": _eq(lambda i, sw, now: i.subscription),
    },
    "invoiceitems": {
        "customer": _eq(lambda li, sw, now: li[1].customer),
        "invoice": _eq(lambda li, sw, now: li[1].id),
        "pending": lambda v, li, sw, now: v is False,  # every item here is already on an invoice
    },
    "charges": {
        "customer": _eq(lambda c, sw, now: c.customer),
        "payment_intent": _eq(_pi_of_charge),
        "transfer_group": _none,
    },
    "payment_intents": {"customer": _eq(lambda p, sw, now: p.customer)},
    "payment_methods": {"customer": _eq(lambda p, sw, now: p.customer), "type": lambda v, p, sw, now: v == "card"},
    "refunds": {
        "charge": _eq(lambda r, sw, now: r.charge),
        "payment_intent": _eq(lambda r, sw, now: sw.payment_intent_of_charge(r.charge)),
    },
    "balance_transactions": {
        "currency": _eq(lambda b, sw, now: b.currency),
        "payout": _payout_txns,
        "source": _eq(lambda b, sw, now: b.source),
        "type": _eq(lambda b, sw, now: b.type),
    },
    "payouts": {
        "arrival_date": lambda v, p, sw, now: _range(v, p.arrival_date),
        "destination": _eq(lambda p, sw, now: "ba_" + p.id[3:17]),
        "status": lambda v, p, sw, now: p.status_at(now) == v,
    },
    "disputes": {
        "charge": _eq(lambda d, sw, now: d.charge),
        "payment_intent": _eq(lambda d, sw, now: sw.payment_intent_of_charge(d.charge)),
    },
    "events": {
        "type": _event_type,
        "types": lambda v, e, sw, now: any(_event_type(t, e, sw, now) for t in v),
        "delivery_success": lambda v, e, sw, now: v is True,  # every event reached its endpoint
    },
}
PAGINATION = frozenset({"limit", "starting_after", "ending_before", "expand", "created"})
REQUIRED_PARENT: dict[str, dict[str, str]] = {
    # filter -> kind whose object must exist (else Stripe's 404 on that param), e.g. `?customer=cus_missing`.
    "payment_methods": {"customer": "customer"},
    "subscription_items": {"subscription": "subscription"},
}
