"""Shopify Admin API simulator: `POST /admin/api/{version}/graphql.json` with cost-based throttling.

Versions, as Shopify serves them: quarterly releases (`YYYY-01/04/07/10`, out on the first day of the quarter) are
supported for twelve months; a request for an older one falls forward to the oldest supported version, and every
response names the version served in `X-Shopify-API-Version`. A version not released yet (as of the world's `now`),
or a string that is no version, is a 404. `unstable` is served as the newest.

Plans (restore rate in points per second; bucket = 20 s of restore, as Shopify's published 1000/50 ratio) are set by
the sandbox option `shopify_plan` or env `SANDBOX_SHOPIFY_PLAN` (default `plus`, so the demo is quick; benchmarks use
`standard` to be limit-bound). Option `shopify_bucket_seconds` changes the bucket size (tests use a tiny bucket);
`shopify_restore_rate` sets the restore rate outright (memory benchmarks lift the limit with it).
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sandbox.common.openapi import install_route_errors
from sandbox.common.ratelimit import ServerBucket
from sandbox.common.simulator import Simulator
from sandbox.common.state import SandboxState

from .graphql_api import ShopifyGraphQL

# Public sandbox-only values, shaped unlike real keys so nobody (and no secret scanner) takes them for one.
SANDBOX_CREDENTIALS = {"shop": "northwind-roasters", "access_token": "sandbox-shopify-access-token"}
PLANS = {"standard": 100.0, "advanced": 200.0, "plus": 1000.0, "enterprise": 2000.0}
VERSION = re.compile(r"^20\d\d-(01|04|07|10)$")
SUPPORT_MONTHS = 12
NOT_FOUND = {"errors": "Not Found"}


def served_version(requested: str, now: datetime) -> str | None:
    """The version Shopify answers a request for `requested` with, as of `now`; None: no such version (404)."""
    releases = [f"{y}-{m:02d}" for y in range(now.year - 2, now.year + 1) for m in (1, 4, 7, 10) if datetime(y, m, 1, tzinfo=UTC) <= now]
    supported = [v for v in releases if datetime.fromisoformat(v + "-01").replace(tzinfo=UTC) > now.replace(year=now.year - 1)]
    if requested == "unstable":
        return supported[-1]
    if not VERSION.match(requested) or datetime.fromisoformat(requested + "-01").replace(tzinfo=UTC) > now:
        return None
    return requested if requested >= supported[0] else supported[0]
INVALID_TOKEN = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


def create_app(state: SandboxState) -> FastAPI:
    app = FastAPI(title="Shopify Admin API (sandbox)")
    api = ShopifyGraphQL(state.world)
    restore = PLANS[state.options.get("shopify_plan") or os.environ.get("SANDBOX_SHOPIFY_PLAN", "plus")]
    restore = float(state.options.get("shopify_restore_rate", restore))
    bucket_seconds = float(state.options.get("shopify_bucket_seconds", 20))
    buckets: dict[str, ServerBucket] = {}

    @app.post("/admin/api/{version}/graphql.json")
    async def graphql(version: str, request: Request) -> Response:
        served = served_version(version, state.world.now)
        if served is None:
            return JSONResponse(NOT_FOUND, status_code=404)
        token = request.headers.get("X-Shopify-Access-Token")
        if token != SANDBOX_CREDENTIALS["access_token"]:
            return JSONResponse(INVALID_TOKEN, status_code=401)
        try:
            payload = json.loads(await request.body())
            query = payload["query"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"errors": [{"message": "Parse error: request body is not a JSON object with a query"}]}, status_code=400)
        bucket = buckets.setdefault(token, ServerBucket(capacity=restore * bucket_seconds, rate=restore))
        with state.world._lock:
            body, actual = api.run(served, query, payload.get("variables"), bucket)
        stats = state.stats["shopify"]
        if any(e.get("extensions", {}).get("code") == "THROTTLED" for e in body.get("errors", []) if isinstance(e, dict)):
            stats.throttled += 1
        stats.extra["query_cost"] += actual
        return JSONResponse(body, headers={"X-Request-Id": f"sandbox-{stats.requests}", "X-Shopify-API-Version": served})

    @app.api_route("/admin/api/{version}/{resource:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def rest_legacy(version: str, resource: str) -> Response:
        # The REST Admin API is legacy; this sandbox (like our client) speaks GraphQL only.
        return JSONResponse(NOT_FOUND, status_code=404)

    def method_not_allowed(request: Request, allowed: list[str]) -> Response:
        # Shopify answers a GET on graphql.json with 406/404 depending on the edge; its body shape is this one.
        return JSONResponse({"errors": "Method Not Allowed"}, status_code=405, headers={"Allow": ", ".join(allowed)})

    install_route_errors(app, not_found=lambda request: JSONResponse(NOT_FOUND, status_code=404), method_not_allowed=method_not_allowed)
    return app


SIMULATOR = Simulator(create_app, credentials=SANDBOX_CREDENTIALS)
