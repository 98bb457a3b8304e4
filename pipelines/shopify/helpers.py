"""Shopify Admin GraphQL client: cursor pagination with cost-based throttling.

Hand-written because dlt's rest_api speaks REST paginators, while Shopify's limit is a leaky bucket of query *cost*
reported in the response body (`extensions.cost.throttleStatus`) and a throttled query is an HTTP 200 with a
`THROTTLED` error. HTTP-level retries (5xx, 429, timeouts, Retry-After) still come from the shared client layer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from pipelines.common.config import ConfigurationError, ProviderConfig
from pipelines.common.http import client_for

from . import settings

log = logging.getLogger("opsdata.shopify")


class ShopifyError(RuntimeError):
    pass


class ShopifyAuthError(ConfigurationError):
    """401/403: the access token is wrong, revoked or lacks a scope. Retrying will not help."""


class ShopifyResponseError(ShopifyError):
    """A response we cannot use (malformed JSON, GraphQL errors)."""


class CostBudget:
    """Client-side model of Shopify's bucket, from the last `throttleStatus`, so we wait *before* being throttled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.maximum: float | None = None
        self.available: float | None = None
        self.restore_rate: float | None = None
        self._at = time.monotonic()
        self.spent = 0.0
        self.throttled = 0
        self.waited = 0.0

    def update(self, cost: dict[str, Any] | None) -> None:
        if not cost:
            return
        status = cost.get("throttleStatus") or {}
        with self._lock:
            self.maximum = float(status.get("maximumAvailable", self.maximum or 0))
            self.available = float(status.get("currentlyAvailable", self.available or 0))
            self.restore_rate = float(status.get("restoreRate", self.restore_rate or 0)) or None
            self._at = time.monotonic()
            if cost.get("actualQueryCost") is not None:
                self.spent += float(cost["actualQueryCost"])

    def wait_time(self, needed: float) -> float:
        with self._lock:
            if self.available is None or not self.restore_rate:
                return 0.0
            estimate = min(self.maximum or float("inf"), self.available + (time.monotonic() - self._at) * self.restore_rate)
            return max(0.0, (needed - estimate) / self.restore_rate)

    def wait_for(self, needed: float) -> None:
        delay = self.wait_time(needed)
        if delay > 0:
            self.waited += delay
            time.sleep(delay)


class ShopifyClient:
    def __init__(self, config: ProviderConfig) -> None:
        self.url = f"{config.base_url}/admin/api/{settings.API_VERSION}/graphql.json"
        token = config.credential("access_token")
        self.http = client_for(config, headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"})
        self.budget = CostBudget()
        self._requested: dict[str, float] = {}

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one query; wait for the cost budget first; wait and retry when throttled. Returns `data`."""
        for _ in range(settings.THROTTLE_MAX_WAITS):
            self.budget.wait_for(self._requested.get(query, 0.0))
            response = self.http.post(self.url, data=json.dumps({"query": query, "variables": variables or {}}))
            if response.status_code in (401, 403):
                raise ShopifyAuthError(
                    f"Shopify rejected the access token (HTTP {response.status_code}): {response.text[:200]}. "
                    "Check SHOPIFY_ACCESS_TOKEN / the 'shopify_default' connection and the app's read_customers, "
                    "read_orders scopes."
                )
            if response.status_code >= 400:
                raise ShopifyError(f"Shopify answered HTTP {response.status_code} after retries: {response.text[:300]}")
            try:
                body = response.json()
            except ValueError as exc:
                raise ShopifyResponseError(
                    f"Shopify returned a malformed JSON body (HTTP {response.status_code}, {len(response.content)} bytes); "
                    "nothing from this run was loaded. Re-run to retry."
                ) from exc
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
                delay = max(0.05, self.budget.wait_time(needed))
                log.info("Shopify throttled the query; waiting %.2fs for %.0f points", delay, needed)
                self.budget.waited += delay
                time.sleep(delay)
                continue
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
