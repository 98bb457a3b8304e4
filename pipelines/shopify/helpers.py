"""Shopify Admin GraphQL client: cursor pagination with cost-based throttling.

Hand-written because dlt's rest_api speaks REST paginators, while Shopify's limit is a leaky bucket of query *cost*
reported in the response body (`extensions.cost.throttleStatus`) and a throttled query is an HTTP 200 with a
`THROTTLED` error. The cost bucket is the shared layer's `TokenBucket`, kept in step with the server's view after
every response; HTTP-level retries (5xx, 429, timeouts, Retry-After), malformed bodies and 401/403 are the shared
client layer's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from pipelines.common.config import ProviderConfig
from pipelines.common.http import TokenBucket, client_for

from . import settings

log = logging.getLogger("opsdata.shopify")

AUTH_HINT = (
    "set SHOPIFY_ACCESS_TOKEN (or the Airflow Connection 'shopify_default') to the custom app's Admin API token, "
    "and give the app the read_customers and read_orders scopes"
)


class ShopifyError(RuntimeError):
    pass


class ShopifyResponseError(ShopifyError):
    """A response we cannot use (GraphQL errors, a body without the expected shape)."""


class CostBudget:
    """Client-side view of Shopify's query-cost bucket, so we wait *before* being throttled.

    The bucket itself is the shared layer's `TokenBucket` (points instead of requests), created from the first
    `throttleStatus` and re-synced with the server's `currentlyAvailable` after every response (Shopify charges the
    requested cost up front and refunds to the actual cost, which only the server knows)."""

    def __init__(self) -> None:
        self.bucket: TokenBucket | None = None
        self.spent = 0.0
        self.throttled = 0
        self.waited = 0.0

    def update(self, cost: dict[str, Any] | None) -> None:
        if not cost:
            return
        status = cost.get("throttleStatus") or {}
        maximum, available = status.get("maximumAvailable"), status.get("currentlyAvailable")
        restore = float(status.get("restoreRate") or 0)
        if maximum is not None and available is not None and restore > 0:
            if self.bucket is None:
                self.bucket = TokenBucket(restore, float(maximum))
            self.bucket.sync(float(available), rate=restore, capacity=float(maximum))
        if cost.get("actualQueryCost") is not None:
            self.spent += float(cost["actualQueryCost"])

    def wait_time(self, needed: float) -> float:
        return self.bucket.wait_time(needed) if self.bucket is not None else 0.0

    def wait_for(self, needed: float) -> None:
        """Take `needed` points from the bucket, waiting for them (nothing to wait for before the first answer)."""
        if self.bucket is not None and needed > 0:
            self.waited += self.bucket.acquire(needed)


class ShopifyClient:
    def __init__(self, config: ProviderConfig) -> None:
        self.url = f"{config.base_url}/admin/api/{settings.API_VERSION}/graphql.json"
        token = config.credential("access_token")
        self.http = client_for(
            config, headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"}, fix_hint=AUTH_HINT
        )
        self.budget = CostBudget()
        self._requested: dict[str, float] = {}

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one query; wait for the cost budget first; wait and retry when throttled. Returns `data`."""
        for _ in range(settings.THROTTLE_MAX_WAITS):
            self.budget.wait_for(self._requested.get(query, 0.0))
            response = self.http.post(self.url, data=json.dumps({"query": query, "variables": variables or {}}))
            if response.status_code >= 400:
                raise ShopifyError(f"Shopify answered HTTP {response.status_code} after retries for {self.url}")
            body = response.json()  # the shared layer has checked it parses
            if not isinstance(body, dict):
                raise ShopifyResponseError(f"Shopify returned an unexpected body type: {type(body).__name__}")
            cost = (body.get("extensions") or {}).get("cost")
            self.budget.update(cost)
            if cost and cost.get("requestedQueryCost") is not None:
                self._requested[query] = float(cost["requestedQueryCost"])
            errors = body.get("errors") or []
            if any(isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
                self.budget.throttled += 1
                needed = self._requested.get(query, settings.MAX_QUERY_COST)
                delay = self.budget.wait_time(needed)
                log.info("Shopify throttled the query; waiting %.2fs for %.0f points", delay, needed)
                if delay <= 0:  # our view says enough points, Shopify's does not: give its bucket a moment
                    time.sleep(0.05)
                continue  # the next turn's wait_for waits for the points
            if errors:
                messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
                raise ShopifyResponseError(f"Shopify GraphQL errors: {messages}")
            data = body.get("data")
            if not isinstance(data, dict):
                raise ShopifyResponseError("Shopify response has no data object")
            return data
        raise ShopifyError(f"Shopify kept throttling after {settings.THROTTLE_MAX_WAITS} waits")

    def paginate(self, query: str, connection: str, variables: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of nodes of a top-level connection, following `pageInfo.endCursor` to the last page."""
        after: str | None = None
        while True:
            data = self.execute(query, {**variables, "after": after})
            conn = data.get(connection)
            if not isinstance(conn, dict) or not isinstance(conn.get("nodes"), list) or "pageInfo" not in conn:
                raise ShopifyResponseError(f"Shopify response for {connection!r} is not a connection: {str(conn)[:200]}")
            yield conn["nodes"]
            page_info = conn["pageInfo"]
            if not page_info.get("hasNextPage"):
                return
            after = page_info.get("endCursor")
            if not after:
                raise ShopifyResponseError(f"{connection}: hasNextPage is true but endCursor is missing")


def gid_to_int(gid: str | None) -> int | None:
    """`gid://shopify/Order/123` -> 123."""
    if not gid:
        return None
    return int(gid.rsplit("/", 1)[-1].split("?")[0])


def money(bag: dict[str, Any] | None) -> str | None:
    """MoneyBag -> shop-currency amount as a decimal string (exact; dbt casts it to decimal)."""
    if not bag:
        return None
    return (bag.get("shopMoney") or {}).get("amount")
