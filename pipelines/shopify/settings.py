"""Shopify Admin GraphQL API: endpoints, version, page sizes and documented limits."""

from __future__ import annotations

from pipelines.contract import RateLimit

# A supported dated version (each is supported >= 12 months). 2025-04+ has Customer.defaultEmailAddress.
API_VERSION = "2026-10"
PRODUCTION_BASE_URL = "https://{shop}.myshopify.com"

# GraphQL Admin limits are on query *cost*, read from each response's extensions.cost.throttleStatus
# (maximumAvailable, currentlyAvailable, restoreRate); a single query may cost at most 1000 points.
# This request-rate cap is only a safety net far above what the cost budget allows.
RATE_LIMIT = RateLimit(per_second=40, burst=10, scope="safety net under the query-cost bucket")
MAX_QUERY_COST = 1000

# Page sizes chosen so each query's *requested* cost stays under 1000 (asserted in tests against the simulator):
# customers: 2 + 200 x 4; orders: 2 + 8 x ~123 (line items and refunds nested, each refund line with its subtotal).
CUSTOMERS_PAGE_SIZE = 200
ORDERS_PAGE_SIZE = 8
LINE_ITEMS_PAGE_SIZE = 10
REFUNDS_PER_ORDER = 3
REFUND_LINE_ITEMS_PAGE_SIZE = 5

INITIAL_UPDATED_AT = "2000-01-01T00:00:00Z"
THROTTLE_MAX_WAITS = 30

