"""Pre-Basil rendering (the vendored spec's version, 2023-08-16): the current object, moved back into the old shape.

First the fields Basil moved are put back where they were (period on the subscription, `invoice.subscription`,
line-item `price`/`proration`/`type`, `discount.coupon`, ...), from the same world objects; then the object is
projected onto the spec's schema: fields the spec does not list are dropped, nullable fields it lists and we do not
fill are null, as Stripe renders them. The conformance suite checks the result against the spec unpatched.
"""

from __future__ import annotations

from typing import Any

from sandbox.common.openapi import OpenAPISpec

from . import render
from .world import StripeWorld


def downgrade(spec: OpenAPISpec, kind: str, obj: dict[str, Any], sw: StripeWorld, at: int) -> dict[str, Any]:
    obj = dict(obj)
    fix = _FIXES.get(kind)
    if fix is not None:
        fix(obj, sw, at, spec)
    schemas = spec.document["components"]["schemas"]
    return project(spec, obj, schemas[kind]) if kind in schemas else obj


def project(spec: OpenAPISpec, value: Any, schema: Any) -> Any:
    """`value` reduced to what `schema` describes (recursively), missing nullable fields added as null."""
    schema = spec.resolve(schema or {})
    if isinstance(value, list):
        items = schema.get("items")
        return [project(spec, v, items) for v in value] if items else value
    if not isinstance(value, dict):
        return value
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return project(spec, value, _branch(spec, value, branches))
    props = schema.get("properties")
    if not props:
        return value  # free-form (metadata, event data): as is
    required = set(schema.get("required") or ())
    out = {}
    for name, sub in props.items():
        if name in value:
            out[name] = project(spec, value[name], sub)
        elif name in required or spec.resolve(sub).get("nullable"):
            out[name] = None
    return out


def _branch(spec: OpenAPISpec, value: dict[str, Any], branches: list[Any]) -> Any:
    resolved = [spec.resolve(b) for b in branches]
    objects = [b for b in resolved if b.get("type") != "string" and ("properties" in b or b.get("type") == "object")]
    kind = value.get("object")
    for b in objects:
        enum = ((b.get("properties") or {}).get("object") or {}).get("enum")
        if kind is not None and enum == [kind]:
            return b
    return objects[0] if objects else {}


def _invoice(obj: dict[str, Any], sw: StripeWorld, at: int, spec: OpenAPISpec) -> None:
    inv = sw.invoices[obj["id"]]
    obj["subscription"] = inv.subscription
    obj["subscription_details"] = {"metadata": {}} if inv.subscription else None
    obj["paid"] = obj["status"] == "paid"
    obj["paid_out_of_band"] = False
    obj["total_tax_amounts"] = []
    obj["charge"] = inv.charge
    pi = sw.payment_intents.get(sw.payment_intent_id(inv.id))  # by its derived id: not a scan of every intent
    obj["payment_intent"] = pi.id if pi is not None and pi.created <= at else None
    obj["discount"] = None
    lines = obj.get("lines") or {}
    obj["lines"] = {**lines, "data": [downgrade(spec, "line_item", li, sw, at) for li in lines.get("data", [])]}


def _line_item(obj: dict[str, Any], sw: StripeWorld, at: int, spec: OpenAPISpec) -> None:
    parent = obj.get("parent") or {}
    details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
    obj["type"] = "subscription" if parent.get("type") == "subscription_item_details" else "invoiceitem"
    obj["proration"] = bool(details.get("proration"))
    obj["proration_details"] = {"credited_items": None}
    obj["subscription"] = details.get("subscription")
    obj.pop("subscription_item", None)
    if details.get("subscription_item"):  # neither nullable nor required: absent on one-off (invoice item) lines
        obj["subscription_item"] = details["subscription_item"]
    if details.get("invoice_item"):  # neither nullable nor required: absent on subscription lines
        obj["invoice_item"] = details["invoice_item"]
    price_id = ((obj.get("pricing") or {}).get("price_details") or {}).get("price")
    if price_id:
        obj["price"] = downgrade(spec, "price", render.price(sw.prices[price_id], sw, at), sw, at)
        obj["unit_amount_excluding_tax"] = str(sw.prices[price_id].unit_amount)
    obj["amount_excluding_tax"] = obj.get("amount")
    obj["tax_amounts"] = []
    obj["tax_rates"] = []


def _subscription(obj: dict[str, Any], sw: StripeWorld, at: int, spec: OpenAPISpec) -> None:
    items = (obj.get("items") or {}).get("data") or []
    if items:
        obj["current_period_start"] = items[0]["current_period_start"]
        obj["current_period_end"] = items[0]["current_period_end"]
    first = (obj.get("discounts") or [None])[0]
    discount_id = first if isinstance(first, str) or first is None else first["id"]
    obj["discount"] = downgrade(spec, "discount", render.discount(sw.discounts[discount_id]), sw, at) if discount_id else None
    obj["items"] = {**obj["items"], "data": [downgrade(spec, "subscription_item", i, sw, at) for i in items]}


def _discount(obj: dict[str, Any], sw: StripeWorld, at: int, spec: OpenAPISpec) -> None:
    coupon = sw.coupons[sw.discounts[obj["id"]].coupon]
    obj["coupon"] = downgrade(spec, "coupon", render.coupon(coupon, sw, at), sw, at)


def _product(obj: dict[str, Any], sw: StripeWorld, at: int, spec: OpenAPISpec) -> None:
    obj["features"] = []


def _charge(obj: dict[str, Any], sw: StripeWorld, at: int, spec: OpenAPISpec) -> None:
    obj["invoice"] = sw.charges[obj["id"]].invoice


def _payment_intent(obj: dict[str, Any], sw: StripeWorld, at: int, spec: OpenAPISpec) -> None:
    obj["invoice"] = sw.payment_intents[obj["id"]].invoice


def _invoiceitem(obj: dict[str, Any], sw: StripeWorld, at: int, spec: OpenAPISpec) -> None:
    price_id = ((obj.get("pricing") or {}).get("price_details") or {}).get("price")
    if price_id:
        price = sw.prices[price_id]
        obj["price"] = downgrade(spec, "price", render.price(price, sw, at), sw, at)
        obj["unit_amount"] = price.unit_amount
        obj["unit_amount_decimal"] = str(price.unit_amount)
    obj["subscription"] = None  # one-off items belong to no subscription (subscription_item: absent, not nullable)


_FIXES: dict[str, Any] = {
    "invoice": _invoice,
    "line_item": _line_item,
    "subscription": _subscription,
    "discount": _discount,
    "product": _product,
    "charge": _charge,
    "payment_intent": _payment_intent,
    "invoiceitem": _invoiceitem,
}
