"""Stripe API simulator: `GET /v1/<resource>` lists and retrieves, as the official SDK calls them.

- Every request is matched to its operation in the vendored OpenAPI spec and its query checked against it
  (`sandbox.common.openapi`): unknown parameters, wrong types, values outside an enum get Stripe's 400
  (`parameter_unknown`, `parameter_invalid_integer`, ... with `param`); unknown paths and methods get
  `Unrecognized request URL`. Documented lists of objects the world lacks are empty; their ids are 404.
- Auth: `Authorization: Bearer <secret key>` (or HTTP Basic with the key as user name); wrong key -> 401 with
  Stripe's error object. Unknown ids -> 404 `resource_missing`.
- Lists: newest first; `limit` 1..100 (default 10), `starting_after` / `ending_before` (mutually exclusive),
  `created`, every other documented filter (`objects.FILTERS`), `expand[]` as `x-expandableFields` allows.
  `/v1/subscriptions` hides canceled ones unless `status=canceled|all`. `/v1/events` only goes back 30 days.
- Versions (`versions.py`): `Stripe-Version` selects the SDK's (post-Basil) or the spec's (2023-08-16) rendering;
  an unpublished version is rejected as Stripe does.
- Rate limit: the account's limit per second (test-mode keys 25/s, live keys 100/s, as documented), enforced per key
  with Stripe's real 429 body (`code: rate_limit`). Sandbox option `stripe_rate_limit` or env
  `SANDBOX_STRIPE_RATE_LIMIT` / `STRIPE_RATE_LIMIT_PER_SECOND` changes it (read per request so tests can).
  Option `stripe_rate_clock` (tests only) gives the limiter a clock of its own, e.g. one that ticks per request, so
  which requests it refuses does not depend on machine load.
- `POST /_sandbox/webhooks` `{"url": ..., "since": <unix>, "until": <unix>}` posts the events of that window,
  signed with the webhook secret, to a receiver (see `webhooks.py`).
"""

from __future__ import annotations

import base64
import bisect
import gc
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.common.openapi import MethodNotAllowed, NoRoute, Operation, Violation, lazy_spec, local_path, warm
from sandbox.common.ratelimit import ServerBucket
from sandbox.common.simulator import Simulator
from sandbox.common.state import SandboxState

from . import legacy, objects, render, versions
from .objects import BY_PATH, KINDS, Renderer, StripeRequestError
from .world import EVENT_RETENTION_DAYS, StripeWorld

# Public sandbox-only values, shaped unlike real keys so nobody (and no secret scanner) takes them for one.
SANDBOX_CREDENTIALS = {
    "api_key": "sk_test_sandbox_not_secret",
    "webhook_secret": "whsec_sandbox_not_secret",
}
DEFAULT_LIMITS = {"test": 25.0, "live": 100.0}
MAX_LIMIT = 100
FREEZE_WORLD_EVENTS = 100_000
"""Worlds this big (large: 222k events) are frozen out of the garbage collector once built; small test worlds,
built many to a process, are not (frozen objects are never freed)."""
ENCODED_CACHE_BYTES = 128 * 1024 * 1024
"""At most this much list items' JSON is kept for re-listing (the oldest dropped first). Unbounded, it grew with the
world: 14 GB at xlarge, where a full load lists each object once, and the new memory's page faults were 43 % of the
simulator's CPU (kernel time, 6 % of the HTTP span on their own)."""
CREATED_OPS = ("gt", "gte", "lt", "lte")
SPEC = lazy_spec("stripe/spec3.2023-09-12.yaml", query_style="brackets")
"""The vendored OpenAPI spec: every request's parameters are checked against its operation."""
UNRECOGNIZED = "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
# Violation kind -> Stripe's error code (https://docs.stripe.com/error-codes).
VIOLATION_CODES = {
    "unknown_parameter": "parameter_unknown",
    "missing_parameter": "parameter_missing",
    "invalid_type": "parameter_invalid_{expected}",
    "invalid_value": "parameter_invalid_string",
}


class FastJSONResponse(JSONResponse):
    """The same compact UTF-8 JSON as Starlette's `JSONResponse`, encoded by orjson (~5 x faster)."""

    def render(self, content: Any) -> bytes:
        return encode(content)


def encoded_list(url: str, items: list[bytes], has_more: bool) -> bytes:
    """`FastJSONResponse(render.list_object(url, data, has_more))`'s body, from its items already encoded.

    One join, so the page's bytes are copied once (a page of invoices is hundreds of KB)."""
    head = b'{"object":"list","data":['
    tail = b'],"has_more":%b,"url":%b}' % (b"true" if has_more else b"false", orjson.dumps(url))
    if not items:
        return head + tail
    parts = list(items)
    parts[0] = head + parts[0]
    parts[-1] = parts[-1] + tail
    return b",".join(parts)


def encode(obj: Any) -> bytes:
    """An object's JSON as Stripe sends it: orjson without dlt's options (its non-str-key check and fallback hook
    cost ~15 % of every dump; a rendered object has only str keys and JSON types, and a stray type fails loudly)."""
    return orjson.dumps(obj)


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


def violation_error(v: Violation) -> JSONResponse:
    code = VIOLATION_CODES.get(v.kind)
    if code and v.expected:
        code = code.format(expected=v.expected.split(" ")[0])
    elif code and "{" in code:
        code = None
    return stripe_error(400, v.message, code=code, param=v.param)


class BlobCache:
    """Encoded list items by key, up to `max_bytes` of them, the oldest dropped first: memory bounded by the cache,
    not the world, while a re-listed page (tests, reconcile runs, a client's retries) is not encoded again."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = ENCODED_CACHE_BYTES if max_bytes is None else max_bytes
        self.size = 0
        self._items: OrderedDict[Any, bytes] = OrderedDict()

    def get(self, key: Any) -> bytes | None:
        return self._items.get(key)

    def put(self, key: Any, blob: bytes) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._items[key] = blob
        self.size += len(blob)
        while self.size > self.max_bytes and self._items:
            _, dropped = self._items.popitem(last=False)
            self.size -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)


class Index:
    """Each collection's (created, id) keys sorted ascending, for newest-first pagination by bisect."""

    def __init__(self, sw: StripeWorld) -> None:
        self.keys: dict[str, list[tuple[int, str]]] = {}
        for name, kind in KINDS.items():
            self.keys[name] = sorted((kind.created(obj), oid) for oid, obj in kind.source(sw).items())
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
        start = bisect.bisect_left(keys, (lo, ""))
        end = bisect.bisect_right(keys, (hi, "~"))
        for cursor, is_after in ((starting_after, True), (ending_before, False)):
            if cursor is None:
                continue
            created = self.created[kind].get(cursor)
            if created is None:
                raise StripeRequestError(
                    404, f"No such {kind}: '{cursor}'", code="resource_missing", param="starting_after" if is_after else "ending_before"
                )
            if is_after:
                end = min(end, bisect.bisect_left(keys, (created, cursor)))
            else:
                start = max(start, bisect.bisect_right(keys, (created, cursor)))
        if keep is None:
            # Only the page is sliced out (copying the whole range first made each page cost the whole list).
            if ending_before is not None:
                chunk = keys[start : min(end, start + limit)]
            else:
                chunk = keys[max(start, end - limit) : end]
            return [oid for _, oid in reversed(chunk)], end - start > limit
        # A filter: test keys from the page's end of the range only until one more than the page matched, so a page
        # costs its own size (plus the keys it skips), not the whole range on every page.
        order = range(start, end) if ending_before is not None else range(end - 1, start - 1, -1)
        found: list[str] = []
        for i in order:
            if keep(keys[i][1]):
                if len(found) == limit:
                    return (found[::-1] if ending_before is not None else found), True
                found.append(keys[i][1])
        return (found[::-1] if ending_before is not None else found), False


def list_params(params: dict[str, Any]) -> tuple[int, dict[str, int]]:
    """`limit` (1..100, default 10: documented in the spec's prose, not its schema) and the `created` range."""
    limit = params.get("limit", 10)
    if not 1 <= limit <= MAX_LIMIT:
        raise StripeRequestError(400, f"Invalid limit: must be between 1 and {MAX_LIMIT}", param="limit")
    if params.get("starting_after") and params.get("ending_before"):
        raise StripeRequestError(400, "You may only specify one of these parameters: ending_before, starting_after.", param="starting_after")
    created = params.get("created", {})
    if isinstance(created, int):
        created = {"gte": created, "lte": created}
    return limit, created


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


class StripeGate:
    """Auth, the per-key rate limit, `Stripe-Version`, and the spec check of every API request, before routing.

    Pure ASGI rather than `@app.middleware("http")` (whose streamed responses and extra tasks cost more CPU per
    request than most handlers). What it checks is handed to the handler in `request.state`: `stripe_version`,
    `stripe_op` (the spec operation) and `stripe_params` (the query, typed by the spec). Every response the handlers
    give carries `Request-Id` and `Stripe-Version`.
    """

    def __init__(self, app: ASGIApp, state: SandboxState, prepare: Callable[[], object]) -> None:
        self.app, self.state, self.prepare = app, state, prepare
        self.prepared = False
        self.stats = state.stats["stripe"]
        self.buckets: dict[tuple[str, float, Any], ServerBucket] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        path = local_path(request)
        if path.startswith("/_sandbox/"):  # the simulator's own controls (webhook delivery), not Stripe's API
            await self.app(scope, receive, send)
            return
        if not self.prepared:
            # The handlers are `async def` (they only compute, no I/O: no thread hop per request), so the one-off
            # build of the spec, the Stripe world and its index (seconds, minutes at xlarge) runs in a worker thread
            # instead, and the other simulators keep answering meanwhile.
            await run_in_threadpool(self.prepare)
            self.prepared = True
        checked = self.check(request, path)
        if isinstance(checked, JSONResponse):
            await checked(scope, receive, send)
            return
        version, stats = checked, self.stats

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Request-Id"] = f"req_sandbox{stats.requests}"
                headers["Stripe-Version"] = version.name
            await send(message)

        await self.app(scope, receive, send_with_ids)

    def check(self, request: Request, path: str) -> versions.Version | JSONResponse:
        """The version the request is answered in, or the error Stripe would answer instead."""
        state, stats = self.state, self.stats
        key = _api_key(request)
        if not key:
            return stripe_error(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if key != state.options.get("stripe_api_key", SANDBOX_CREDENTIALS["api_key"]):
            return stripe_error(401, f"Invalid API Key provided: {key[:8]}{'*' * 12}{key[-4:]}")
        limit = configured_limit(state, key)
        clock = state.options.get("stripe_rate_clock")  # tests only: a clock that ticks per request (see ServerBucket)
        bucket = self.buckets.get((key, limit, clock))
        if bucket is None:
            bucket = self.buckets[(key, limit, clock)] = ServerBucket(capacity=max(1.0, limit), rate=limit, clock=clock)
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
        header = request.headers.get("stripe-version")
        try:
            version = versions.resolve(header)
        except versions.InvalidVersion as exc:
            return stripe_error(400, str(exc))
        if header:
            stats.extra[f"version:{header}"] += 1
        try:
            op = SPEC().match(request.method, path)
        except (NoRoute, MethodNotAllowed):
            return stripe_error(404, UNRECOGNIZED.format(method=request.method, path=path))
        query = request.query_params.multi_items()
        violations = op.check(query)
        if violations:
            return violation_error(violations[0])
        request.state.stripe_version = version
        request.state.stripe_params = op.coerced(query)
        request.state.stripe_op = op
        return version


def create_app(state: SandboxState) -> FastAPI:
    app = FastAPI(title="Stripe API (sandbox)")
    stats = state.stats["stripe"]
    cache: dict[str, Any] = {}
    warm(SPEC)

    build_lock = threading.Lock()

    def sw() -> StripeWorld:
        world: StripeWorld = state.world.extension("stripe")
        if "index" not in cache:  # built with the world, on its first request, not on the first list page
            with build_lock:
                if "index" not in cache:
                    cache["index"] = Index(world)
                    if len(world.events) >= FREEZE_WORLD_EVENTS:
                        # The world lives as long as the process: out of the cyclic collector's way. A full
                        # collection re-scanned its million objects (1.2 s at large, the event loop blocked), and the
                        # requests that queued meanwhile reached the rate limiter together (429s for a client pacing
                        # under the limit).
                        gc.collect()
                        gc.freeze()
        return world

    def rendered() -> dict[Any, Any]:
        """Rendered objects for the current `now` (cleared when the world advances): the simulator's CPU, not the
        rate limit, would otherwise bound a parallel client."""
        return for_epoch("rendered")

    def encoded() -> BlobCache:
        """List items as the JSON they are sent as, for the current `now`. Kept as bytes rather than dicts: bytes
        are no work for the garbage collector (a cache of nested dicts made its full collections most of the CPU
        of a large extraction), cost a fraction of the memory, and are not encoded again when a page is re-listed.
        Bounded (`ENCODED_CACHE_BYTES`): memory and page faults follow the pages served, not the world."""
        return for_epoch("encoded")  # type: ignore[return-value]

    def for_epoch(name: str) -> dict[Any, Any]:
        epoch = state.world.epoch
        if cache.get("epoch") != epoch:
            cache["rendered"], cache["encoded"] = {}, BlobCache()
            cache["epoch"] = epoch
        return cache[name]  # type: ignore[no-any-return]

    def index() -> Index:
        if "index" not in cache:
            cache["index"] = Index(sw())
        return cache["index"]  # type: ignore[no-any-return]

    def renderer(request: Request) -> Renderer:
        world = sw()
        return Renderer(world, world.now, request.state.stripe_version, SPEC(), rendered())

    app.add_middleware(StripeGate, state=state, prepare=lambda: (SPEC(), sw()))

    @app.exception_handler(StripeRequestError)
    async def request_error(_request: Request, exc: StripeRequestError) -> JSONResponse:
        return stripe_error(exc.status, exc.message, code=exc.code, param=exc.param)

    def params(request: Request) -> dict[str, Any]:
        return request.state.stripe_params  # type: ignore[no-any-return]

    trees: dict[tuple[Any, ...], dict[str, Any]] = {}

    def tree(request: Request) -> dict[str, Any]:
        """`expand[]` checked against the operation's documented response, as a tree (kept: a client pages with the
        same few expansions; invalid ones raise and are not kept). Read-only for its users."""
        op, version = request.state.stripe_op, request.state.stripe_version
        paths = params(request).get("expand", [])
        key = (op.method, op.template, version.legacy, tuple(paths))
        found = trees.get(key)
        if found is None:
            root = objects._targets(SPEC(), op.success_schema)
            found = trees[key] = objects.expansion_tree(SPEC(), root, paths, version)
        return found

    def list_response(request: Request, kind: str, url: str, keep: Any = None, lo: int = 0) -> Response:
        p = params(request)
        limit, created = list_params(p)
        expand = tree(request).get("data", {})
        world = sw()
        now = world.now
        low, high = _bounds(created, lo, now)
        filters = [(objects.FILTERS.get(KINDS[kind].path if kind in KINDS else "events", {}).get(name), value) for name, value in p.items() if name not in objects.PAGINATION]
        source = KINDS[kind].source(world) if kind in KINDS else index().events
        visible = KINDS[kind].visible if kind in KINDS else None
        checks = [(f, v) for f, v in filters if f is not None]

        def keep_all(oid: str) -> bool:
            obj = source[oid]
            if visible is not None and not visible(obj, world, now):
                return False
            return (keep is None or keep(oid)) and all(f(v, obj, world, now) for f, v in checks)

        # No filter: plain bisect slicing, as cheap per page as before filters existed.
        needed = keep is not None or visible is not None or bool(checks)
        ids, has_more = index().page(kind, low, high, limit, p.get("starting_after"), p.get("ending_before"), keep_all if needed else None)
        r = renderer(request)
        events = index().events
        tree_key = objects.tree_key(expand)
        blobs = encoded()
        items = []
        for i in ids:  # not `blobs.setdefault(key, render(...))`: that renders every object on every page
            key = (kind, i, r.version.shapes, tree_key)
            blob = blobs.get(key)
            if blob is None:
                obj = render_event(events[i], r) if kind == "event" else r.build(kind, i, expand)
                # Not FastAPI's jsonable_encoder nor the standard library's encoder: over 100 nested invoices either
                # costs more than rendering them (the simulator's CPU must stay a small share of a client's time).
                blob = encode(obj)
                blobs.put(key, blob)
            items.append(blob)
        stats.extra[f"objects:{url.rsplit('/', 1)[-1]}"] += len(ids)
        return Response(encoded_list(url, items, has_more), media_type="application/json")

    def render_event(event: Any, r: Renderer) -> dict[str, Any]:
        obj = render.event(event, r.sw)
        return legacy.project(r.spec, obj, r.spec.document["components"]["schemas"]["event"]) if r.version.legacy else obj

    def require(kind: str, object_id: str, param: str = "id") -> Any:
        found = objects.lookup(sw(), kind, object_id, sw().now)
        if found is None:
            raise StripeRequestError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)
        return found

    @app.get("/v1/account")
    async def get_account(request: Request) -> Any:
        tree(request)
        obj = render.account(sw())
        return legacy.project(SPEC(), obj, SPEC().document["components"]["schemas"]["account"]) if request.state.stripe_version.legacy else obj

    @app.get("/v1/balance")
    async def get_balance(request: Request) -> Any:
        tree(request)
        return render.balance(sw(), sw().now)

    @app.get("/v1/events")
    async def list_events(request: Request) -> Any:
        stats.by_route["events"] += 1
        _record_params(stats, "events", request)
        now = sw().now
        return list_response(request, "event", "/v1/events", lo=now - EVENT_RETENTION_DAYS * 86400)

    @app.get("/v1/events/{event_id}")
    async def get_event(event_id: str, request: Request) -> Any:
        tree(request)
        event = index().events.get(event_id)
        now = sw().now
        if event is None or event.created > now or event.created < now - EVENT_RETENTION_DAYS * 86400:
            raise StripeRequestError(404, f"No such event: '{event_id}'", code="resource_missing", param="id")
        return render_event(event, renderer(request))

    @app.get("/v1/invoices/{invoice_id}/lines")
    async def invoice_lines(invoice_id: str, request: Request) -> Any:
        inv = require("invoice", invoice_id, "invoice")
        p = params(request)
        limit, _ = list_params(p)
        r = renderer(request)
        lines = [render.line_item(line, inv, r.sw) for line in inv.lines]
        if r.version.legacy:
            lines = [legacy.downgrade(r.spec, "line_item", li, r.sw, r.at) for li in lines]
        expand = tree(request).get("data", {})
        if expand:
            lines = [r.expand("line_item", li, expand) for li in lines]
        ids = [line["id"] for line in lines]
        start, end = 0, len(lines)
        for cursor, is_after in ((p.get("starting_after"), True), (p.get("ending_before"), False)):
            if cursor is None:
                continue
            if cursor not in ids:
                raise StripeRequestError(404, f"No such line item: '{cursor}'", code="resource_missing", param="starting_after" if is_after else "ending_before")
            if is_after:
                start = ids.index(cursor) + 1
            else:
                end = ids.index(cursor)
        window = lines[start:end]
        chunk = window[-limit:] if p.get("ending_before") else window[:limit]
        stats.by_route["invoice_lines"] += 1
        return FastJSONResponse(render.list_object(f"/v1/invoices/{invoice_id}/lines", chunk, len(window) > limit))

    @app.get("/v1/charges/{charge_id}/refunds")
    async def charge_refunds(charge_id: str, request: Request) -> Any:
        require("charge", charge_id, "charge")
        return list_response(request, "refund", f"/v1/charges/{charge_id}/refunds", keep=lambda rid: sw().refunds[rid].charge == charge_id)

    @app.get("/v1/charges/{charge_id}/refunds/{refund_id}")
    async def charge_refund(charge_id: str, refund_id: str, request: Request) -> Any:
        require("charge", charge_id, "charge")
        found = require("refund", refund_id)
        if found.charge != charge_id:
            raise StripeRequestError(404, f"No such refund: '{refund_id}'", code="resource_missing", param="id")
        return renderer(request).object("refund", refund_id, tree(request))

    @app.get("/v1/customers/{customer_id}/payment_methods")
    async def customer_payment_methods(customer_id: str, request: Request) -> Any:
        require("customer", customer_id, "customer")
        return list_response(request, "payment_method", f"/v1/customers/{customer_id}/payment_methods", keep=lambda pid: sw().payment_methods[pid].customer == customer_id)

    @app.get("/v1/customers/{customer_id}/payment_methods/{pm_id}")
    async def customer_payment_method(customer_id: str, pm_id: str, request: Request) -> Any:
        require("customer", customer_id, "customer")
        found = require("payment_method", pm_id, "payment_method")
        if found.customer != customer_id:
            raise StripeRequestError(404, f"No such PaymentMethod: '{pm_id}'", code="resource_missing", param="payment_method")
        return renderer(request).object("payment_method", pm_id, tree(request))

    @app.get("/v1/balance/history")
    async def balance_history(request: Request) -> Any:
        return list_response(request, "balance_transaction", "/v1/balance_transactions")

    @app.get("/v1/balance/history/{txn_id}")
    async def balance_history_item(txn_id: str, request: Request) -> Any:
        require("balance_transaction", txn_id)
        return renderer(request).object("balance_transaction", txn_id, tree(request))

    @app.get("/v1/{resource}/search")
    async def search(resource: str, request: Request) -> Any:
        raise StripeRequestError(400, f"The sandbox does not simulate the Search API (GET /v1/{resource}/search): list /v1/{resource} with its filters instead.")

    @app.get("/v1/{resource}")
    async def list_resource(resource: str, request: Request) -> Any:
        kind = BY_PATH.get(resource)
        if kind is None:
            return fallback_list(request, request.state.stripe_op)
        p = params(request)
        for name, parent in objects.REQUIRED_PARENT.get(resource, {}).items():
            if name in p:
                require(parent, p[name], name)
        stats.by_route[resource] += 1
        _record_params(stats, resource, request)
        keep = None
        if resource == "subscriptions" and "status" not in p:
            keep = lambda oid: (v := sw().subscriptions[oid].at(sw().now)) is not None and v.status != "canceled"  # noqa: E731
        return list_response(request, kind.name, f"/v1/{resource}", keep)

    @app.get("/v1/{resource}/{object_id}")
    async def retrieve(resource: str, object_id: str, request: Request) -> Any:
        kind = BY_PATH.get(resource)
        if kind is None:
            return fallback_get(request, request.state.stripe_op)
        require(kind.name, object_id)
        stats.by_route[f"{resource}/retrieve"] += 1
        return FastJSONResponse(renderer(request).object(kind.name, object_id, tree(request)))

    def fallback_list(request: Request, op: Operation) -> Any:
        """A documented list of objects this world has none of: empty, once its parent (if any) exists."""
        for name, value in op.path_params.items():
            kind = objects.kind_of_id(value)
            parent = op.template.split("/")[2].rstrip("s")
            if kind is None or kind != parent and parent in KINDS:
                raise StripeRequestError(404, f"No such {parent}: '{value}'", code="resource_missing", param=name)
            require(kind, value, name)
        list_params(params(request))
        return JSONResponse(render.list_object(local_path(request), [], False))

    def fallback_get(request: Request, op: Operation) -> Any:
        if op.is_collection():
            return fallback_list(request, op)
        if op.path_params:
            name, value = list(op.path_params.items())[-1]
            label = op.template.split("/")[-2].rstrip("s") if op.template.endswith("}") else op.template.split("/")[-1]
            raise StripeRequestError(404, f"No such {label}: '{value}'", code="resource_missing", param=name)
        raise StripeRequestError(404, f"The sandbox's account has no {op.template.removeprefix('/v1/')} ({op.method.upper()} {op.template} is documented, not simulated).", code="resource_missing")

    @app.post("/_sandbox/webhooks")
    async def deliver(request: Request) -> Any:
        from .webhooks import deliver_events

        spec = await request.json()

        def send() -> int:  # posts to a receiver (network I/O, perhaps served by this very process): not on the loop
            return deliver_events(
                sw(), spec["url"], spec.get("secret") or SANDBOX_CREDENTIALS["webhook_secret"], spec.get("since"), spec.get("until")
            )

        sent = await run_in_threadpool(send)
        return {"delivered": sent}

    async def catch_all(request: Request, rest: str = "") -> Any:
        op = request.state.stripe_op
        if op.method == "get":
            return fallback_get(request, op)
        raise StripeRequestError(400, f"The sandbox's Stripe account is read-only: {op.method.upper()} {op.template} is documented, not simulated.")

    app.add_api_route("/{rest:path}", catch_all, methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    return app


def _record_params(stats: Any, resource: str, request: Request) -> None:
    """Count the list parameters clients send (`param:<resource>:<name>`): tests check them against the spec."""
    for key in request.query_params:
        stats.extra[f"param:{resource}:{key.split('[', 1)[0]}"] += 1


SIMULATOR = Simulator(create_app, credentials=SANDBOX_CREDENTIALS)
