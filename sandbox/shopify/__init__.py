"""Shopify Admin API simulator: `POST /admin/api/{version}/graphql.json` with cost-based throttling.

Plans (restore rate in points per second; bucket = 20 s of restore, as Shopify's published 1000/50 ratio) are set by
the sandbox option `shopify_plan` or env `SANDBOX_SHOPIFY_PLAN` (default `plus`, so the demo is quick; benchmarks use
`standard` to be limit-bound). Option `shopify_bucket_seconds` changes the bucket size (tests use a tiny bucket).
"""

from __future__ import annotations

import json
import os
import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sandbox.common.ratelimit import ServerBucket
from sandbox.common.simulator import Simulator
from sandbox.common.state import SandboxState

from .graphql_api import ShopifyGraphQL

# Public sandbox-only values, shaped unlike real keys so nobody (and no secret scanner) takes them for one.
SANDBOX_CREDENTIALS = {"shop": "northwind-roasters", "access_token": "sandbox-shopify-access-token"}
PLANS = {"standard": 100.0, "advanced": 200.0, "plus": 1000.0, "enterprise": 2000.0}
VERSION = re.compile(r"^20\d\d-(01|04|07|10)$")
INVALID_TOKEN = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


def create_app(state: SandboxState) -> FastAPI:
    app = FastAPI(title="Shopify Admin API (sandbox)")
    api = ShopifyGraphQL(state.world)
    restore = PLANS[state.options.get("shopify_plan") or os.environ.get("SANDBOX_SHOPIFY_PLAN", "plus")]
    bucket_seconds = float(state.options.get("shopify_bucket_seconds", 20))
    buckets: dict[str, ServerBucket] = {}

    @app.post("/admin/api/{version}/graphql.json")
    async def graphql(version: str, request: Request) -> Response:
        if not VERSION.match(version):
            return JSONResponse({"errors": "Not Found"}, status_code=404)
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
            body, actual = api.run(version, query, payload.get("variables"), bucket)
        stats = state.stats["shopify"]
        if any(e.get("extensions", {}).get("code") == "THROTTLED" for e in body.get("errors", []) if isinstance(e, dict)):
            stats.throttled += 1
        stats.extra["query_cost"] += actual
        return JSONResponse(body, headers={"X-Request-Id": f"sandbox-{stats.requests}"})

    @app.api_route("/admin/api/{version}/{resource:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def rest_legacy(version: str, resource: str) -> Response:
        # The REST Admin API is legacy; this sandbox (like our client) speaks GraphQL only.
        return JSONResponse({"errors": "Not Found"}, status_code=404)

    return app


SIMULATOR = Simulator(create_app, credentials=SANDBOX_CREDENTIALS)
