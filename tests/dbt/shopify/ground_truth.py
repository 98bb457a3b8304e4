"""Shopify's sales report computed from the sandbox world's orders (not from the models): the ground truth of the
Shopify tile and of the business overview."""

from __future__ import annotations

from collections import defaultdict


def is_gift_card(line: object) -> bool:
    return str(line.sku).startswith("GIFT-CARD")  # type: ignore[attr-defined]


def returned_value_cents(order: object, line_id: int, quantity: int) -> int:
    """Shopify's refund-line subtotal: the returned units after their share of the order discount, before tax."""
    gross = sum(li.quantity * li.unit_price_cents for li in order.line_items)  # type: ignore[attr-defined]
    line = next(li for li in order.line_items if li.id == line_id)  # type: ignore[attr-defined]
    value = quantity * line.unit_price_cents
    return value - round(order.discount_cents * value / gross)  # type: ignore[attr-defined]


def expected_sales_daily(world: object) -> dict:
    """Shopify's sales report per UTC day, from the world's orders (gift cards out of sales, returns on refund day)."""
    now = world.now  # type: ignore[attr-defined]
    expected: dict = defaultdict(lambda: defaultdict(int))
    valid = [o for o in world.visible_orders() if not (o.cancelled_at and o.cancelled_at <= now)]  # type: ignore[attr-defined]
    first_day: dict[int, object] = {}
    for o in sorted(valid, key=lambda o: o.created_at):
        first_day.setdefault(o.customer_id, o.created_at.date())
    new: dict = defaultdict(set)
    returning: dict = defaultdict(set)
    for o in valid:
        day = expected[o.created_at.date()]
        day["orders_count"] += 1
        day["gross_sales"] += sum(li.quantity * li.unit_price_cents for li in o.line_items if not is_gift_card(li))
        day["gift_card_sales"] += sum(li.quantity * li.unit_price_cents for li in o.line_items if is_gift_card(li))
        day["discounts"] += o.discount_cents
        day["shipping"] += o.shipping_cents
        day["taxes"] += o.tax_cents
        day["orders_total"] += o.total_cents
        (new if first_day[o.customer_id] == o.created_at.date() else returning)[o.created_at.date()].add(o.customer_id)
        lines = {li.id: li for li in o.line_items}
        for r in o.refunds_as_of(now):
            for line_id, quantity in r.line_items:
                if not is_gift_card(lines[line_id]):
                    expected[r.created_at.date()]["returns"] += returned_value_cents(o, line_id, quantity)
    for o in world.visible_orders():  # type: ignore[attr-defined]
        for r in o.refunds_as_of(now):
            expected[r.created_at.date()]["refunds"] += r.amount_cents
    for d, day in expected.items():
        day["new_customers"], day["returning_customers"] = len(new[d]), len(returning[d])
        day["net_sales"] = day["gross_sales"] - day["discounts"] - day["returns"]
        day["order_value"] = day["gross_sales"] - day["discounts"]
        day["orders_total_less_refunds"] = day["orders_total"] - day["refunds"]
    return expected
