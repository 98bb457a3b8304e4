"""The synthetic business is deterministic, coherent, and changes over time."""

from __future__ import annotations

from sandbox.world import SCALES, World


def test_same_seed_same_world_and_other_seed_differs() -> None:
    a, b, c = World(seed=7, scale="small"), World(seed=7, scale="small"), World(seed=8, scale="small")
    assert [(x.id, x.email, x.created_at) for x in a.customers] == [(x.id, x.email, x.created_at) for x in b.customers]
    assert [(o.id, o.total_cents) for o in a.orders] == [(o.id, o.total_cents) for o in b.orders]
    assert [x.email for x in a.customers] != [x.email for x in c.customers]


def test_emails_are_unique_and_orders_belong_to_known_customers() -> None:
    world = World(scale="small")
    emails = [c.email for c in world.customers]
    assert len(emails) == len(set(emails))
    ids = {c.id for c in world.customers}
    assert all(o.customer_id in ids and o.created_at >= world.customer_by_id(o.customer_id).created_at for o in world.orders)


def test_world_has_refunds_cancellations_and_seasonality() -> None:
    world = World(scale="medium")
    orders = world.visible_orders()
    assert any(o.refunds for o in orders) and any(o.cancelled_at for o in orders)
    statuses = {o.financial_status(world.now) for o in orders}
    assert {"PAID", "REFUNDED", "PARTIALLY_REFUNDED", "VOIDED"} <= statuses
    by_month: dict[int, int] = {}
    for o in orders:
        by_month[o.created_at.month] = by_month.get(o.created_at.month, 0) + 1
    assert by_month[12] > by_month[2]  # December peak over the February lull


def test_advance_reveals_new_and_changed_records_only_after_now() -> None:
    world = World(scale="small")
    before_orders = {o.id: o.updated_at(world.now) for o in world.visible_orders()}
    world.advance(10)
    after = {o.id: o.updated_at(world.now) for o in world.visible_orders()}
    assert set(after) > set(before_orders)  # new orders
    assert any(after[i] > t for i, t in before_orders.items())  # changed orders (fulfilled or refunded)
    assert all(t <= world.now for t in after.values())


def test_scales_are_ordered() -> None:
    assert SCALES["small"].customers < SCALES["medium"].customers < SCALES["large"].customers
