"""Stripe constants: where the API lives, the documented limits, and which credentials the pipeline needs."""

from __future__ import annotations

from typing import Any

from pipelines.contract import RateLimit

PRODUCTION_BASE_URL = "https://api.stripe.com"

RATE_LIMIT = RateLimit(per_second=25, burst=5, scope="account, test mode")
"""Test mode (sk_test_/rk_test_) global limit. Live keys get `LIVE_RATE_LIMIT` unless STRIPE_RATE_LIMIT_PER_SECOND
is set. https://docs.stripe.com/rate-limits"""
LIVE_RATE_LIMIT = RateLimit(per_second=100, burst=10, scope="account, live mode")
RATE_LIMIT_HEADROOM = 0.98
"""The client aims just under the limit. Stripe's per-second bucket (one second of burst, as the simulator enforces
it) absorbs our burst plus requests arriving bunched by up to ~0.8 s at this rate (tests/pipelines/stripe/
test_stripe_pacing.py); at 0.95 a large extraction used only 0.93-0.94 of the limit."""

PAGE_SIZE = 100
"""Stripe's maximum `limit`."""
EVENT_RETENTION_DAYS = 30
"""`/v1/events` goes back 30 days: an older cursor means changes may have been missed."""
WORKERS = 8
"""Threads per list walking `created` windows, and fetching changed objects (the shared token bucket keeps the
whole process under the limit)."""
RELIST_MIN_CHANGED = 2
"""Fewer changed objects below a list's cursor than this are refetched by id without trying a re-list page."""
SPLIT_UNBOUNDED_PAGES = 16
"""When a window has no lower bound, assume this many pages remain below a page when deciding where to split."""

# Lists: resource path -> (table, mutable?). Mutable objects change after creation; events tell us which.
# Largest first (as accounts usually are): dlt starts the parallelized resources in this order on its 5 extract
# threads, and a list holds one until its first page is back, so the lists with the most pages to split start at once.
LISTS: dict[str, tuple[str, bool]] = {
    "balance_transactions": ("balance_transactions", False),
    "charges": ("charges", True),
    "invoices": ("invoices", True),
    "subscriptions": ("subscriptions", True),
    "customers": ("customers", True),
    "payouts": ("payouts", True),
    "refunds": ("refunds", True),
    "disputes": ("disputes", True),
    "prices": ("prices", True),
    "products": ("products", True),
    "coupons": ("coupons", True),
}
LIST_PARAMS: dict[str, dict[str, Any]] = {
    "subscriptions": {"status": "all", "expand": ["data.discounts"]},
    "invoices": {"expand": ["data.discounts"]},
}
RETRIEVE_PARAMS: dict[str, dict[str, Any]] = {
    "subscriptions": {"expand": ["discounts"]},
    "invoices": {"expand": ["discounts"]},
}
# Event `data.object.object` -> list path, to refetch the current state of what an event says changed.
OBJECT_TYPES = {
    "customer": "customers",
    "product": "products",
    "price": "prices",
    "coupon": "coupons",
    "subscription": "subscriptions",
    "invoice": "invoices",
    "charge": "charges",
    "refund": "refunds",
    "payout": "payouts",
    "dispute": "disputes",
}

