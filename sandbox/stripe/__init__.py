"""Stripe API simulator: `GET /v1/<resource>` lists and retrieves, as the official SDK calls them.

- Auth: `Authorization: Bearer <secret key>` (or HTTP Basic with the key as user name); wrong key -> 401 with
  Stripe's error object. Unknown ids -> 404 `resource_missing`; bad list params -> 400 `invalid_request_error`.
- Lists: newest first; `limit` 1..100 (default 10), `starting_after` / `ending_before` (mutually exclusive),
  `created[gt|gte|lt|lte]` (or `created=<int>`), `expand[]` (indexed `expand[0]` as the SDK sends it), `has_more`.
  `/v1/subscriptions` hides canceled ones unless `status=canceled|all`. `/v1/events` only goes back 30 days.
- Rate limit: the account's limit per second (test-mode keys 25/s, live keys 100/s, as documented), enforced per key
  with Stripe's real 429 body (`code: rate_limit`). Sandbox option `stripe_rate_limit` or env
  `SANDBOX_STRIPE_RATE_LIMIT` / `STRIPE_RATE_LIMIT_PER_SECOND` changes it (read per request so tests can).
- Objects render as of `world.now` at the SDK's pinned API version (see `render.py`).
- `POST /_sandbox/webhooks` `{"url": ..., "since": <unix>, "until": <unix>}` posts the events of that window,
  signed with the webhook secret, to a receiver (see `webhooks.py`).
"""

from __future__ import annotations

import base64
import os
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox.common.ratelimit import ServerBucket
from sandbox.common.simulator import Simulator
from sandbox.common.state import SandboxState

from . import render
from .world import EVENT_RETENTION_DAYS, StripeWorld

# Public sandbox-only values, shaped unlike real keys so nobody (and no secret scanner) takes them for one.
SANDBOX_CREDENTIALS = {
    "api_key": "sk_test_sandbox_not_secret",
    "webhook_secret": "whsec_sandbox_not_secret",
}
DEFAULT_LIMITS = {"test": 25.0, "live": 100.0}
MAX_LIMIT = 100
LISTS = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "coupons": "coupon",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "charges": "charge",
    "refunds": "refund",
    "balance_transactions": "balance_transaction",
    "payouts": "payout",
    "disputes": "dispute",
}
EXPANDABLE = {"subscription": {"discounts", "data.discounts"}, "invoice": {"discounts", "data.discounts"}}
CREATED_OPS = ("gt", "gte", "lt", "lte")


def stripe_error(
    status: int, message: str, type_: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> JSONResponse:
    error: dict[str, Any] = {"message": message, "type": type_}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    return JSONResponse({"error": error}, status_code=status, headers={"Request-Id": "req_sandbox"})


class BadRequest(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


class Index:
    """Each collection's (created, id) keys sorted ascending, for newest-first pagination by bisect."""

    def __init__(self, sw: StripeWorld) -> None:
        import bisect

        self._bisect = bisect
        self.keys: dict[str, list[tuple[int, str]]] = {}
        for path, kind in LISTS.items():
            objects = getattr(sw, path)
            self.keys[kind] = sorted((_created(obj), oid) for oid, obj in objects.items())
        self.keys["event"] = [(e.created, e.id) for e in sw.events]
        self.events = {e.id: e for e in sw.events}
        self.created = {kind: dict((oid, c) for c, oid in keys) for kind, keys in self.keys.items()}

    def page(
        self,
        kind: str,
        lo: int,
        hi: int,
        limit: int,
        starting_after: str | None,
        ending_before: str | None,
        keep: Any = None,
    ) -> tuple[list[str], bool]:
        keys = self.keys[kind]
        start = self._bisect.bisect_left(keys, (lo, ""))
        end = self._bisect.bisect_right(keys, (hi, "~"))
        for cursor, is_after in ((starting_after, True), (ending_before, False)):
            if cursor is None:
                continue
            created = self.created[kind].get(cursor)
            if created is None:
                raise BadRequest(
                    stripe_error(
                        404,
                        f"No such {kind}: '{cursor}'",
                        code="resource_missing",
                        param="starting_after" if is_after else "ending_before",
                    )
                )
            if is_after:
                end = min(end, self._bisect.bisect_left(keys, (created, cursor)))
            else:
                start = max(start, self._bisect.bisect_right(keys, (created, cursor)))
        candidates = keys[start:end]
        if keep is not None:
            candidates = [k for k in candidates if keep(k[1])]
        if ending_before is not None:
            chunk = candidates[:limit]
        else:
            chunk = candidates[-limit:] if limit < len(candidates) else candidates
        return [oid for _, oid in reversed(chunk)], len(candidates) > limit


def _created(obj: Any) -> int:
    return obj["created"] if isinstance(obj, dict) else obj.created


def _int(value: str, param: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadRequest(stripe_error(400, f"Invalid integer: {value}", param=param)) from None


def parse_list_params(query: Any) -> dict[str, Any]:
    """Stripe's bracket notation: `created[gte]=1`, `expand[]=x` or `expand[0]=x`."""
    params: dict[str, Any] = {"expand": set(), "created": {}}
    for key, value in query.multi_items():
        if key == "expand[]" or re.fullmatch(r"expand\[\d+\]", key):
            params["expand"].add(value)
        elif key.startswith("created["):
            op = key[len("created[") : -1]
            if op not in CREATED_OPS:
                raise BadRequest(stripe_error(400, f"Received unknown parameter: {key}", param=key))
            params["created"][op] = _int(value, key)
        elif key == "created":
            params["created"]["gte"] = params["created"]["lte"] = _int(value, key)
        else:
            params[key] = value
    limit = _int(params.get("limit", "10"), "limit")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(stripe_error(400, f"Invalid limit: must be between 1 and {MAX_LIMIT}", param="limit"))
    params["limit"] = limit
    if params.get("starting_after") and params.get("ending_before"):
        raise BadRequest(
            stripe_error(
                400,
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="starting_after",
            )
        )
    return params


def _bounds(created: dict[str, int], lo: int, hi: int) -> tuple[int, int]:
    if "gte" in created:
        lo = max(lo, created["gte"])
    if "gt" in created:
        lo = max(lo, created["gt"] + 1)
    if "lte" in created:
        hi = min(hi, created["lte"])
    if "lt" in created:
        hi = min(hi, created["lt"] - 1)
    return lo, hi


def _expand(kind: str, requested: set[str], prefix: str) -> frozenset[str]:
    allowed = EXPANDABLE.get(kind, set())
    out = set()
    for path in requested:
        if (
            path not in allowed
            or (prefix == "data." and not path.startswith("data."))
            or (prefix == "" and path.startswith("data."))
        ):
            raise BadRequest(stripe_error(400, f"This property cannot be expanded ({path}).", param="expand"))
        out.add(path.removeprefix("data."))
    return frozenset(out)


def configured_limit(state: SandboxState, key: str) -> float:
    value = (
        state.options.get("stripe_rate_limit")
        or os.environ.get("SANDBOX_STRIPE_RATE_LIMIT")
        or os.environ.get("STRIPE_RATE_LIMIT_PER_SECOND")
    )
    if value:
        return float(value)
    return DEFAULT_LIMITS["live" if key.startswith(("sk_live_", "rk_live_")) else "test"]


def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if header.lower().startswith("basic "):
        try:
            return base64.b64decode(header[6:]).decode().split(":", 1)[0]
        except ValueError:
            return None
    return None


def create_app(state: SandboxState) -> FastAPI:
    app = FastAPI(title="Stripe API (sandbox)")
    stats = state.stats["stripe"]
    buckets: dict[tuple[str, float], ServerBucket] = {}
    cache: dict[str, Any] = {}

    def sw() -> StripeWorld:
        return state.world.extension("stripe")  # type: ignore[no-any-return]

    def cached(key: tuple[Any, ...], build: Any) -> Any:
        """Rendered objects for the current `now` (cleared when the world advances): the simulator's CPU, not the
        rate limit, would otherwise bound a parallel client."""
        epoch = state.world.epoch
        if cache.get("epoch") != epoch:
            cache["rendered"] = {}
            cache["epoch"] = epoch
        rendered = cache["rendered"]
        if key not in rendered:
            rendered[key] = build()
        return rendered[key]

    def index() -> Index:
        if "index" not in cache:
            cache["index"] = Index(sw())
        return cache["index"]  # type: ignore[no-any-return]

    @app.middleware("http")
    async def auth_and_limit(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/_sandbox"):
            return await call_next(request)
        key = _api_key(request)
        if not key:
            return stripe_error(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if key != state.options.get("stripe_api_key", SANDBOX_CREDENTIALS["api_key"]):
            return stripe_error(401, f"Invalid API Key provided: {key[:8]}{'*' * 12}{key[-4:]}")
        limit = configured_limit(state, key)
        bucket = buckets.get((key, limit))
        if bucket is None:
            bucket = buckets[(key, limit)] = ServerBucket(capacity=max(1.0, limit), rate=limit)
        taken, _wait = bucket.try_take(1)
        if not taken:
            with state.lock:
                stats.throttled += 1
            # Stripe's 429 carries no Retry-After and no Stripe-Should-Retry: clients must back off themselves.
            return stripe_error(
                429,
                "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
                code="rate_limit",
            )
        version = request.headers.get("stripe-version")
        if version:
            stats.extra[f"version:{version}"] += 1
        response = await call_next(request)
        response.headers["Request-Id"] = f"req_sandbox{stats.requests}"
        if version:
            response.headers["Stripe-Version"] = version
        return response

    @app.get("/v1/account")
    def get_account() -> Any:
        return render.account(sw())

    @app.get("/v1/events")
    def list_events(request: Request) -> Any:
        try:
            params = parse_list_params(request.query_params)
            if params["expand"] - {"data.data"}:
                raise BadRequest(
                    stripe_error(
                        400, f"This property cannot be expanded ({sorted(params['expand'])[0]}).", param="expand"
                    )
                )
            now = sw().now
            lo, hi = _bounds(params["created"], now - EVENT_RETENTION_DAYS * 86400, now)
            types = {params["type"]} if "type" in params else None
            events = index().events
            keep = (lambda eid: _type_matches(events[eid].type, types)) if types else None
            ids, has_more = index().page(
                "event", lo, hi, params["limit"], params.get("starting_after"), params.get("ending_before"), keep
            )
        except BadRequest as exc:
            return exc.response
        stats.by_route["events"] += 1
        stats.extra["objects:events"] += len(ids)
        _record_params(stats, "events", request)
        return JSONResponse(
            render.list_object(
                "/v1/events",
                [cached(("event", i, 0), lambda i=i: render.event(events[i], sw())) for i in ids],
                has_more,
            )
        )

    @app.get("/v1/events/{event_id}")
    def get_event(event_id: str) -> Any:
        event = index().events.get(event_id)
        now = sw().now
        if event is None or event.created > now or event.created < now - EVENT_RETENTION_DAYS * 86400:
            return stripe_error(404, f"No such event: '{event_id}'", code="resource_missing", param="id")
        return render.event(event, sw())

    @app.get("/v1/invoices/{invoice_id}/lines")
    def invoice_lines(invoice_id: str, request: Request) -> Any:
        inv = sw().invoices.get(invoice_id)
        if inv is None or inv.created > sw().now:
            return stripe_error(404, f"No such invoice: '{invoice_id}'", code="resource_missing", param="invoice")
        try:
            params = parse_list_params(request.query_params)
        except BadRequest as exc:
            return exc.response
        lines = [render.line_item(line, inv, sw()) for line in inv.lines]
        start = 0
        if params.get("starting_after"):
            ids = [line["id"] for line in lines]
            if params["starting_after"] not in ids:
                return stripe_error(
                    404,
                    f"No such line item: '{params['starting_after']}'",
                    code="resource_missing",
                    param="starting_after",
                )
            start = ids.index(params["starting_after"]) + 1
        chunk = lines[start : start + params["limit"]]
        stats.by_route["invoice_lines"] += 1
        return render.list_object(f"/v1/invoices/{invoice_id}/lines", chunk, start + params["limit"] < len(lines))

    @app.get("/v1/{resource}")
    def list_resource(resource: str, request: Request) -> Any:
        kind = LISTS.get(resource)
        if kind is None:
            return stripe_error(404, f"Unrecognized request URL (GET: /v1/{resource}).")
        world = sw()
        try:
            params = parse_list_params(request.query_params)
            expand = _expand(kind, params["expand"], "data.")
            now = world.now
            lo, hi = _bounds(params["created"], 0, now)
            keep = _filter(kind, params, world, now)
            ids, has_more = index().page(
                kind, lo, hi, params["limit"], params.get("starting_after"), params.get("ending_before"), keep
            )
        except BadRequest as exc:
            return exc.response
        stats.by_route[resource] += 1
        stats.extra[f"objects:{resource}"] += len(ids)
        _record_params(stats, resource, request)
        data = [cached((kind, i, expand), lambda i=i: render.render(kind, i, world, now, expand)) for i in ids]
        # JSONResponse directly: FastAPI's jsonable_encoder over 100 nested invoices costs more than rendering them.
        return JSONResponse(render.list_object(f"/v1/{resource}", data, has_more))

    @app.get("/v1/{resource}/{object_id}")
    def retrieve(resource: str, object_id: str, request: Request) -> Any:
        kind = LISTS.get(resource)
        if kind is None:
            return stripe_error(404, f"Unrecognized request URL (GET: /v1/{resource}/{object_id}).")
        world = sw()
        source = getattr(world, resource).get(object_id)
        if source is None or _created(source) > world.now:
            return stripe_error(404, f"No such {kind}: '{object_id}'", code="resource_missing", param="id")
        try:
            expand = _expand(kind, parse_list_params(request.query_params)["expand"], "")
        except BadRequest as exc:
            return exc.response
        stats.by_route[f"{resource}/retrieve"] += 1
        return render.render(kind, object_id, world, world.now, expand)

    @app.post("/_sandbox/webhooks")
    async def deliver(request: Request) -> Any:
        from .webhooks import deliver_events

        spec = await request.json()
        sent = deliver_events(
            sw(),
            spec["url"],
            spec.get("secret") or SANDBOX_CREDENTIALS["webhook_secret"],
            spec.get("since"),
            spec.get("until"),
        )
        return {"delivered": sent}

    return app


def _record_params(stats: Any, resource: str, request: Request) -> None:
    """Count the list parameters clients send (`param:<resource>:<name>`): tests check them against the spec."""
    for key in request.query_params:
        stats.extra[f"param:{resource}:{key.split('[', 1)[0]}"] += 1


def _type_matches(event_type: str, wanted: set[str]) -> bool:
    return any(event_type == w or (w.endswith(".*") and event_type.startswith(w[:-1])) for w in wanted)


def _filter(kind: str, params: dict[str, Any], sw: StripeWorld, now: int) -> Any:
    """List filters beyond `created`: subscriptions' `status` (default hides canceled), `customer`, `charge`, `payout`."""
    checks = []
    if kind == "subscription":
        status = params.get("status")
        if status not in (
            None,
            "all",
            "active",
            "past_due",
            "unpaid",
            "canceled",
            "incomplete",
            "incomplete_expired",
            "trialing",
            "paused",
            "ended",
        ):
            raise BadRequest(
                stripe_error(
                    400, f"Invalid status: must be one of active, all, canceled, ... (got {status})", param="status"
                )
            )

        def status_ok(oid: str) -> bool:
            v = sw.subscriptions[oid].at(now)
            current = v.status if v else "incomplete"
            if status is None:
                return current != "canceled"
            return status == "all" or current == status or (status == "ended" and current == "canceled")

        checks.append(status_ok)
    if "customer" in params and kind in ("subscription", "invoice", "charge"):
        collections: dict[str, dict[str, Any]] = {
            "subscription": sw.subscriptions,
            "invoice": sw.invoices,
            "charge": sw.charges,
        }
        collection = collections[kind]
        checks.append(lambda oid: collection[oid].customer == params["customer"])
    if not checks:
        return None
    return lambda oid: all(check(oid) for check in checks)


SIMULATOR = Simulator(create_app, credentials=SANDBOX_CREDENTIALS)
