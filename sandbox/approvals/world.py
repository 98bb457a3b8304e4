"""The merchant's approval queue, derived from the shared world: operator actions waiting for a human.

- `refund`: a refund above a threshold needs a manager's approval; it is requested some hours before the refund is
  issued and resolved when it is (so the queue agrees with Shopify's refunds).
- `order_review`: a large order is held for a fraud review when it is placed; most reviews are resolved within
  three days, a few are forgotten (never resolved): those are what reminders are for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sandbox.world.core import World, stable_rng

STAFF = ("maya@northwind-roasters.com", "li@northwind-roasters.com", "sam@northwind-roasters.com")
ADMIN = "https://admin.shopify.com/store/northwind-roasters"
REFUND_APPROVAL_CENTS = 5000
REVIEW_ORDER_CENTS = 10000


@dataclass(frozen=True)
class ApprovalItem:
    id: str
    kind: str
    title: str
    requested_at: datetime
    requested_by: str
    link: str
    resolved_at: datetime | None

    def pending_at(self, now: datetime) -> bool:
        return self.requested_at <= now and (self.resolved_at is None or self.resolved_at > now)

    def as_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "requested_at": self.requested_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "requested_by": self.requested_by,
            "link": self.link,
        }


def generate(world: World) -> list[ApprovalItem]:
    rng = stable_rng(world.seed, world.scale.name, "approvals")
    window_start = world.reference_time - timedelta(days=60)
    items: list[ApprovalItem] = []
    for order in world.orders:
        for refund in order.refunds:
            if refund.created_at < window_start or refund.amount_cents < REFUND_APPROVAL_CENTS:
                continue
            requested = refund.created_at - timedelta(hours=rng.uniform(2, 60))
            items.append(ApprovalItem(
                id=f"apr_refund_{refund.id}",
                kind="refund",
                title=f"Refund ${refund.amount_cents / 100:,.2f} on order #{order.number}",
                requested_at=requested.replace(microsecond=0),
                requested_by=rng.choice(STAFF),
                link=f"{ADMIN}/orders/{order.id}",
                resolved_at=refund.created_at,
            ))
        if order.created_at >= window_start and order.total_cents >= REVIEW_ORDER_CENTS and order.cancelled_at is None:
            forgotten = rng.random() < 0.06
            resolved = None if forgotten else order.created_at + timedelta(hours=rng.uniform(1, 72))
            items.append(ApprovalItem(
                id=f"apr_review_{order.id}",
                kind="order_review",
                title=f"Fraud review: order #{order.number} ({order.email})",
                requested_at=order.created_at,
                requested_by="risk-bot",
                link=f"{ADMIN}/orders/{order.id}",
                resolved_at=resolved,
            ))
    items.sort(key=lambda i: (i.requested_at, i.id))
    return items
