"""Zendesk Support simulator: the Ticketing API (`/api/v2`) and OAuth (`/oauth`) over the world's support desk.

What it enforces, as Zendesk does (sources in each handler's docstring; the API reference is
https://developer.zendesk.com/api-reference/):

- auth: API token as HTTP Basic `{email}/token:{token}`, or an OAuth bearer token; a bad credential gets
  `401 {"error": "Couldn't authenticate you"}`, a dead bearer token `401 {"error": "invalid_token", ...}`;
  password (basic `email:password`) authentication is disabled, as it is by default on new accounts.
- rate limits, counted in fixed one-minute windows from the first request: the plan's account limit (sandbox option
  `zendesk_plan`: team 200, growth / professional 400, enterprise 700 (default), enterprise_plus 2500 requests/min;
  `zendesk_high_volume=true` is the High Volume add-on, 2500/min) with `X-Rate-Limit`, `X-Rate-Limit-Remaining`,
  `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` on every response and a 429 `text/plain` body
  "Number of allowed API requests per minute exceeded" with `Retry-After`; and the incremental-export limit of 10
  requests/min (30 with the add-on) with `zendesk-ratelimit-incremental-exports: total=10; remaining=9; resets=42`
  and a 429 `{"error": "APIRateLimitExceeded", "description": "Number of allowed incremental export API requests
  per minute exceeded"}`. The cursor-based user export is counted in a limit of its own instead of the exports'
  10: 20 requests/min (60 with the add-on), reported in `Zendesk-RateLimit-incremental-exports-cursor: total=20;
  remaining=19; resets=42` ("Incremental User Export, Cursor Based" > Limits, on the incremental exports reference
  page; its 429 body is not documented: the exports' is used). The sample export allows 10 requests per 20 minutes. Sandbox option `zendesk_rate_scale`
  multiplies every limit (tests run fast; the client paces by what the headers report, so it follows).
- incremental exports exclude the last minute of changes; cursor-based tickets and users (`start_time` first, then
  `cursor`; `end_of_stream`), time-based organizations, ticket events and ticket metric events (`next_page`,
  `end_time`, `count`, `end_of_stream`; items at `end_time` repeat on the next page, as documented);
  `per_page` up to 1000; a `start_time` within the last minute is a 400. Pages are answered from indexes
  (sandbox/zendesk/index.py), not by sorting the world per page.
- list pagination: cursor (`page[size]` 1..100, `page[after]` / `page[before]`, `meta` + `links`) or offset
  (`page`, `per_page` <= 100); offset requests beyond the first 10,000 records are `400 InvalidPaginationDepth`.
- strictness beyond Zendesk (listed in the README's known differences): an unknown query parameter is a 400 in
  Zendesk's `{"error", "description"}` shape, so a client's typo fails here instead of being ignored; unknown paths
  and methods answer `404 {"error": "InvalidEndpoint", "description": "Not found"}`.
- OAuth: `GET /oauth/authorizations/new` (auto-consent, PKCE S256) and `POST /oauth/tokens` (authorization_code,
  refresh_token, client_credentials; JSON body). A refresh returns a new access and refresh token and deletes the
  previous pair, as Zendesk documents (no grace period).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.common.ratelimit import WindowCounter
from sandbox.common.simulator import Simulator
from sandbox.common.state import SandboxState
from sandbox.common.window import Window

from . import render
from .index import ByTime, export_index
from .world import Rating, Ticket, ZendeskWorld

# Public sandbox-only values, shaped unlike real credentials.
SANDBOX_CREDENTIALS = {
    "subdomain": "northwind-roasters",
    "email": "support-admin@northwind.example",
    "api_token": "zendesk-sandbox-token-not-secret",
    "client_id": "opsdata_sandbox",
    "client_secret": "zendesk-sandbox-client-secret",
    "webhook_secret": "zendesk-sandbox-webhook-signing-secret",
}
PLAN_LIMITS = {"team": 200, "growth": 400, "professional": 400, "enterprise": 700, "enterprise_plus": 2500}
HIGH_VOLUME_LIMIT = 2500
INCREMENTAL_LIMIT, INCREMENTAL_LIMIT_HIGH_VOLUME = 10, 30
USERS_CURSOR_LIMIT, USERS_CURSOR_LIMIT_HIGH_VOLUME = 20, 60
SAMPLE_LIMIT, SAMPLE_WINDOW = 10, 20 * 60
EXPORT_DELAY = timedelta(minutes=1)
EXPORT_PAGE_MAX = 1000
LIST_PAGE_MAX = 100
OFFSET_RECORD_WALL = 10_000
ACCOUNT_429_BODY = "Number of allowed API requests per minute exceeded"
INCREMENTAL_429 = {"error": "APIRateLimitExceeded", "description": "Number of allowed incremental export API requests per minute exceeded"}
INVALID_TOKEN = {"error": "invalid_token",
                 "error_description": "The access token provided is expired, revoked, malformed or invalid for other reasons."}
AUTHORIZATION_CODE_TTL = 120
"""Zendesk: an authorization code is valid for 120 seconds."""
REFRESH_TOKEN_TTL_DEFAULT = 30 * 86400


class ZendeskError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(body))
        self.status, self.body, self.headers = status, body, headers or {}

    def response(self) -> Response:
        if isinstance(self.body, str):
            return PlainTextResponse(self.body, status_code=self.status, headers=self.headers)
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def bad_request(description: str, error: str = "InvalidValue") -> ZendeskError:
    return ZendeskError(400, {"error": error, "description": description})


def not_found() -> ZendeskError:
    return ZendeskError(404, {"error": "RecordNotFound", "description": "Not found"})


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(token: str) -> str:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()


def create_app(state: SandboxState) -> FastAPI:
    app = FastAPI(title="Zendesk sandbox")
    store = state.provider_store("zendesk")
    store.setdefault("windows", {})
    store.setdefault("access", {})
    store.setdefault("refresh", {})
    store.setdefault("codes", {})
    store.setdefault("requests", deque(maxlen=20_000))
    stats = state.stats["zendesk"]

    def zw() -> ZendeskWorld:
        world: ZendeskWorld = state.world.extension("zendesk")
        export_index(world)  # built with the world, on its first request (benchmarks warm both up before measuring)
        return world

    def now() -> datetime:
        return state.world.now

    def base(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"

    # --- cross-cutting checks -------------------------------------------------------------------------------
    def window(key: str, limit: int, seconds: float) -> WindowCounter:
        with state.lock:
            counter = store["windows"].get(key)
            if counter is None or counter.limit != limit:
                counter = store["windows"][key] = WindowCounter(limit, seconds)
            return counter

    def scale() -> float:
        """Sandbox option `zendesk_rate_scale` multiplies every limit (tests scale the client alike)."""
        return float(state.options.get("zendesk_rate_scale", 1))

    def account_limit() -> int:
        if str(state.options.get("zendesk_high_volume", "")).lower() in ("1", "true", "yes"):
            return int(HIGH_VOLUME_LIMIT * scale())
        plan = str(state.options.get("zendesk_plan", "enterprise"))
        return int(PLAN_LIMITS.get(plan, PLAN_LIMITS["enterprise"]) * scale())

    def high_volume() -> bool:
        return str(state.options.get("zendesk_high_volume", "")).lower() in ("1", "true", "yes")

    def incremental_limit() -> int:
        return int((INCREMENTAL_LIMIT_HIGH_VOLUME if high_volume() else INCREMENTAL_LIMIT) * scale())

    def users_cursor_limit() -> int:
        return int((USERS_CURSOR_LIMIT_HIGH_VOLUME if high_volume() else USERS_CURSOR_LIMIT) * scale())

    # kind -> (the limit, its window in seconds, the header that reports it)
    endpoint_limits: dict[str, Callable[[], tuple[int, float, str]]] = {
        "incremental": lambda: (incremental_limit(), 60, "zendesk-ratelimit-incremental-exports"),
        "users_cursor": lambda: (users_cursor_limit(), 60, "Zendesk-RateLimit-incremental-exports-cursor"),
        "sample": lambda: (SAMPLE_LIMIT, SAMPLE_WINDOW, "zendesk-ratelimit-incremental-exports"),
    }

    def check(request: Request, op: str, allowed: set[str], kind: str = "api") -> dict[str, str]:
        """Auth, strict query parameters, then the rate limits (account, and the export or sample limit)."""
        with state.lock:
            stats.by_route[op] += 1
            store["requests"].append({"op": op, "method": request.method, "path": request.url.path,
                                      "query": list(request.query_params.multi_items()), "at": time.time()})
        authenticate(request)
        unknown = sorted({k for k in request.query_params if k not in allowed})
        if unknown:
            raise bad_request(f"Unknown parameter {unknown[0]!r} for {request.method} {request.url.path}", "InvalidParameter")
        limit = account_limit()
        ok, reset, remaining = window("account", limit, 60).hit()
        headers = {"X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining), "ratelimit-limit": str(limit),
                   "ratelimit-remaining": str(remaining), "ratelimit-reset": str(max(1, math.ceil(reset)))}
        if not ok:
            throttled(op)
            raise ZendeskError(429, ACCOUNT_429_BODY, {**headers, "Retry-After": str(max(1, math.ceil(reset)))})
        if kind in endpoint_limits:
            total, seconds, header = endpoint_limits[kind]()
            ok, reset, remaining = window(kind, total, seconds).hit()
            headers[header] = f"total={total}; remaining={remaining}; resets={max(1, math.ceil(reset))}"
            if not ok:
                throttled(op)
                raise ZendeskError(429, INCREMENTAL_429, {**headers, "Retry-After": str(max(1, math.ceil(reset)))})
        return headers

    def throttled(op: str) -> None:
        with state.lock:
            stats.throttled += 1
            stats.extra[f"throttled:{op}"] += 1

    def authenticate(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            try:
                user, secret = base64.b64decode(header[6:]).decode().split(":", 1)
            except Exception as exc:
                raise ZendeskError(401, {"error": "Couldn't authenticate you"}) from exc
            if user == f"{SANDBOX_CREDENTIALS['email']}/token" and secrets.compare_digest(secret, SANDBOX_CREDENTIALS["api_token"]):
                return
            raise ZendeskError(401, {"error": "Couldn't authenticate you"})
        if header.startswith("Bearer "):
            token = header[7:]
            with state.lock:
                record = store["access"].get(token)
            if record is None or (record["expires_at"] is not None and record["expires_at"] <= time.time()):
                raise ZendeskError(401, INVALID_TOKEN)
            return
        raise ZendeskError(401, {"error": "Couldn't authenticate you"})

    def int_param(request: Request, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise ZendeskError(400, {"error": {"title": "Invalid attribute",
                                               "message": f"You passed an invalid value for the {name} attribute. Invalid parameter: {name} must be an integer"}}) from exc
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ZendeskError(400, {"errors": [{"code": "InvalidPaginationParameter", "title": "Invalid Pagination Parameter",
                                                 "detail": f"{name} must be between {lo} and {hi}"}]})
        return value

    @app.exception_handler(ZendeskError)
    async def zendesk_error(_request: Request, exc: ZendeskError) -> Response:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def unknown_endpoint(_request: Request, exc: StarletteHTTPException) -> Response:
        # Unknown paths and wrong methods: Zendesk's own 404 body, never FastAPI's {"detail": ...}.
        if exc.status_code in (404, 405):
            return JSONResponse({"error": "InvalidEndpoint", "description": "Not found"}, status_code=404)
        return JSONResponse({"error": "InvalidRequest", "description": str(exc.detail)}, status_code=exc.status_code)

    def route(path: str, handler: Callable[..., Any], methods: tuple[str, ...] = ("GET",)) -> None:
        """Zendesk serves every path with and without the `.json` suffix (the suffixed route first: a trailing path
        parameter would otherwise swallow `12.json`)."""
        app.add_api_route(path + ".json", handler, methods=list(methods), include_in_schema=False)
        app.add_api_route(path, handler, methods=list(methods))

    # --- incremental exports --------------------------------------------------------------------------------
    def cutoff() -> datetime:
        return now() - EXPORT_DELAY

    def start_time_param(request: Request, required: bool = True) -> int | None:
        value = int_param(request, "start_time")
        if value is None:
            if required:
                raise bad_request("start_time is required", "InvalidValue")
            return None
        if value > int(cutoff().timestamp()):
            raise bad_request("Too recent start_time. Use a start_time older than 1 minute")
        return value

    def includes(request: Request, allowed: set[str]) -> set[str]:
        wanted = {x.strip() for x in request.query_params.get("include", "").split(",") if x.strip()}
        bad = sorted(wanted - allowed)
        if bad:
            raise bad_request(f"Invalid sideload {bad[0]!r}; supported: {', '.join(sorted(allowed))}", "InvalidSideload")
        return wanted

    def cursor_export(request: Request, key: str, items: ByTime, at: datetime, render_one: Callable[[Any], dict[str, Any]],
                      headers: dict[str, str], extra: Callable[[list[Any]], dict[str, Any]] | None = None) -> JSONResponse:
        """Cursor-based incremental export over objects in (generated_timestamp, id) order, as of the export cutoff `at`."""
        per_page = int_param(request, "per_page", EXPORT_PAGE_MAX, 1, EXPORT_PAGE_MAX) or EXPORT_PAGE_MAX
        raw_cursor = request.query_params.get("cursor")
        if raw_cursor and request.query_params.get("start_time"):
            raise bad_request("Use either start_time or cursor, not both")
        if raw_cursor:
            try:
                ts_text, _, id_text = _unb64(raw_cursor).partition("||")
                pos = (int(float(ts_text)), int(id_text.rstrip("|")) if id_text.rstrip("|") else 2**63)
            except Exception as exc:
                raise bad_request("Invalid cursor") from exc
        else:
            start = start_time_param(request)
            assert start is not None
            pos = (start, -1)
        limit_ts = int(at.timestamp())
        lo, hi = items.after(*pos), items.upto(limit_ts)
        page = [items.row(i) for i in range(lo, min(hi, lo + per_page))]
        end = hi - lo <= per_page
        after = _b64(f"{limit_ts}.0||") if end else _b64(f"{page[-1][0]}.0||{page[-1][1]}|")
        root = f"{base(request)}{request.url.path}"
        body: dict[str, Any] = {key: [render_one(i[2]) for i in page], "after_url": f"{root}?{urlencode({'cursor': after, 'per_page': per_page})}",
                                "after_cursor": after, "before_url": None, "before_cursor": None, "end_of_stream": end}
        if extra is not None:
            body.update(extra([i[2] for i in page]))
        return JSONResponse(body, headers=headers)

    def time_export(request: Request, key: str, items: ByTime, at: datetime, render_one: Callable[[Any], dict[str, Any]],
                    headers: dict[str, str], page_max: int = EXPORT_PAGE_MAX) -> JSONResponse:
        """Time-based incremental export over objects in (unix time, id) order: time >= start_time, up to the cutoff `at`."""
        start = start_time_param(request)
        assert start is not None
        per_page = int_param(request, "per_page", page_max, 1, page_max) or page_max
        lo, hi = items.since(start), items.upto(int(at.timestamp()))
        page = [items.row(i) for i in range(lo, min(hi, lo + per_page))]
        end = hi - lo <= per_page
        end_time = page[-1][0] if page else start
        params = {k: v for k, v in request.query_params.items() if k != "start_time"}
        next_page = f"{base(request)}{request.url.path}?{urlencode({**params, 'start_time': end_time})}"
        return JSONResponse({key: [render_one(i[2]) for i in page], "next_page": next_page, "count": len(page),
                             "end_time": end_time, "end_of_stream": end}, headers=headers)

    def export_tickets(request: Request, sample: bool = False) -> Response:
        headers = check(request, "incremental_tickets_cursor", {"start_time", "cursor", "per_page", "include", "exclude_deleted"}, "incremental")
        wanted = includes(request, {"metric_sets", "users", "groups", "organizations", "brands", "comment_count", "dates", "slas"})
        at = cutoff()
        world = zw()
        exclude_deleted = request.query_params.get("exclude_deleted", "false").lower() == "true"
        items = export_index(world).tickets(at, exclude_deleted)
        b = base(request)

        def extra(page: list[Ticket]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if "metric_sets" in wanted:
                out["metric_sets"] = [render.metric_set(world, t, at, b) for t in page if t.status_at(at) != "deleted"]
            if "users" in wanted:
                ids = {t.requester_id for t in page} | {t.state(at).get("assignee_id") for t in page}
                out["users"] = [render.user(world, world.users_by_id[i], at, b) for i in sorted(x for x in ids if x)]
            if "groups" in wanted:
                out["groups"] = [render.group(g, b) for g in world.groups]
            return out

        return cursor_export(request, "tickets", items, at, lambda t: render.ticket(world, t, at, b), headers, extra)

    route("/api/v2/incremental/tickets/cursor", export_tickets)

    def export_users(request: Request) -> Response:
        headers = check(request, "incremental_users_cursor", {"start_time", "cursor", "per_page", "include"}, "users_cursor")
        includes(request, {"organizations", "identities", "roles", "abilities", "groups", "open_ticket_count"})
        at = cutoff()
        world = zw()
        return cursor_export(request, "users", export_index(world).users(at), at, lambda u: render.user(world, u, at, base(request)), headers)

    route("/api/v2/incremental/users/cursor", export_users)

    def export_organizations(request: Request) -> Response:
        headers = check(request, "incremental_organizations", {"start_time", "per_page", "include"}, "incremental")
        includes(request, set())
        at = cutoff()
        return time_export(request, "organizations", export_index(zw()).organizations, at, lambda o: render.organization(o, base(request)), headers)

    route("/api/v2/incremental/organizations", export_organizations)

    def export_metric_events(request: Request) -> Response:
        """Time-based by default; with `page[size]` (at most 100) cursor-paginated, as the reference describes."""
        headers = check(request, "incremental_ticket_metric_events", {"start_time", "per_page", "include_changes", "page[size]", "page[after]"},
                        "incremental")
        at = cutoff()
        items = export_index(zw()).metric_events
        if "page[size]" in request.query_params or "page[after]" in request.query_params:
            start = start_time_param(request)
            found = Window(items.records, items.since(start or 0), items.upto(int(at.timestamp())))
            return cursor_list(request, "ticket_metric_events", found, render.metric_event, headers)
        return time_export(request, "ticket_metric_events", items, at, render.metric_event, headers)

    route("/api/v2/incremental/ticket_metric_events", export_metric_events)

    def export_ticket_events(request: Request) -> Response:
        headers = check(request, "incremental_ticket_events", {"start_time", "include", "per_page"}, "incremental")
        comments = "comment_events" in includes(request, {"comment_events"})
        at = cutoff()
        return time_export(request, "ticket_events", export_index(zw()).ticket_events, at,
                           lambda tu: render.ticket_event(tu[0], tu[1], comments), headers)

    route("/api/v2/incremental/ticket_events", export_ticket_events)

    def export_sample(request: Request, incremental_resource: str) -> Response:
        """10 requests per 20 minutes, at most 50 results (https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/)."""
        headers = check(request, "incremental_sample", {"start_time"}, "sample")
        world, at, b = zw(), cutoff(), base(request)
        start = start_time_param(request)
        assert start is not None
        index = export_index(world)
        renderers: dict[str, tuple[Callable[[], ByTime], Callable[[Any], dict[str, Any]]]] = {
            "tickets": (lambda: index.tickets(at), lambda t: render.ticket(world, t, at, b)),
            "users": (lambda: index.users(at), lambda u: render.user(world, u, at, b)),
            "organizations": (lambda: index.organizations, lambda o: render.organization(o, b)),
            "ticket_events": (lambda: index.ticket_events, lambda tu: render.ticket_event(tu[0], tu[1], False)),
        }
        if incremental_resource not in renderers:
            raise ZendeskError(404, {"error": "InvalidEndpoint", "description": "Not found"})
        which, one = renderers[incremental_resource]
        items = which()
        lo, hi = items.since(start), items.upto(int(at.timestamp()))
        found = [items.row(i) for i in range(lo, min(hi, lo + 50))]
        return JSONResponse({incremental_resource: [one(i[2]) for i in found], "count": len(found), "end_of_stream": True,
                             "end_time": found[-1][0] if found else start, "next_page": None}, headers=headers)

    route("/api/v2/incremental/{incremental_resource}/sample", export_sample)

    # --- lists (cursor or offset pagination) -------------------------------------------------------------------
    def cursor_list(request: Request, key: str, objects: Sequence[Any], render_one: Callable[[Any], dict[str, Any]],
                    headers: dict[str, str]) -> JSONResponse:
        size = int_param(request, "page[size]", LIST_PAGE_MAX, 1, LIST_PAGE_MAX) or LIST_PAGE_MAX
        after, before = request.query_params.get("page[after]"), request.query_params.get("page[before]")
        try:
            start = int(_unb64(after).split(":")[1]) if after else 0
            if before:
                start = max(0, int(_unb64(before).split(":")[1]) - size)
        except Exception as exc:
            raise bad_request("Invalid cursor", "InvalidPaginationParameter") from exc
        page = objects[start: start + size]
        has_more = start + size < len(objects)
        after_cursor = _b64(f"a:{start + size}") if page else None
        before_cursor = _b64(f"b:{start}") if page else None
        root = f"{base(request)}{request.url.path}"
        params = {k: v for k, v in request.query_params.items() if not k.startswith("page[")}
        links = {
            "next": f"{root}?{urlencode({**params, 'page[size]': size, 'page[after]': after_cursor})}" if has_more else None,
            "prev": f"{root}?{urlencode({**params, 'page[size]': size, 'page[before]': before_cursor})}" if start > 0 else None,
        }
        return JSONResponse({key: [render_one(o) for o in page], "meta": {"has_more": has_more, "after_cursor": after_cursor,
                             "before_cursor": before_cursor}, "links": links}, headers=headers)

    def offset_list(request: Request, key: str, objects: Sequence[Any], render_one: Callable[[Any], dict[str, Any]],
                    headers: dict[str, str]) -> JSONResponse:
        page = int_param(request, "page", 1, 1, None) or 1
        per_page = int_param(request, "per_page", LIST_PAGE_MAX, 1, LIST_PAGE_MAX) or LIST_PAGE_MAX
        if page * per_page > OFFSET_RECORD_WALL:
            # Since 2024 (https://support.zendesk.com/hc/en-us/articles/5591904358938).
            raise ZendeskError(400, {"errors": [{"code": "InvalidPaginationDepth",
                                                 "title": "Pagination requests using Offset Pagination are limited to page 100 or up to 10000 records (page * per_page)",
                                                 "detail": "There are limits to offset-based pagination. Use cursor-based pagination instead."}]})
        chunk = objects[(page - 1) * per_page: page * per_page]
        root = f"{base(request)}{request.url.path}"
        params = {k: v for k, v in request.query_params.items() if k not in ("page", "per_page")}
        more = page * per_page < len(objects)
        return JSONResponse({key: [render_one(o) for o in chunk],
                             "next_page": f"{root}?{urlencode({**params, 'page': page + 1, 'per_page': per_page})}" if more else None,
                             "previous_page": f"{root}?{urlencode({**params, 'page': page - 1, 'per_page': per_page})}" if page > 1 else None,
                             "count": len(objects)}, headers=headers)

    def paged(request: Request, key: str, objects: Sequence[Any], render_one: Callable[[Any], dict[str, Any]], headers: dict[str, str]) -> JSONResponse:
        cursor = any(k in request.query_params for k in ("page[size]", "page[after]", "page[before]"))
        offset = any(k in request.query_params for k in ("page", "per_page"))
        if cursor and offset:
            raise bad_request("Use either cursor pagination (page[size]) or offset pagination (page, per_page)", "InvalidPaginationParameter")
        return (cursor_list if cursor else offset_list)(request, key, objects, render_one, headers)

    PAGING = {"page[size]", "page[after]", "page[before]", "page", "per_page"}

    def list_groups(request: Request) -> Response:
        headers = check(request, "list_groups", PAGING | {"exclude_deleted"})
        at = now()
        return paged(request, "groups", [g for g in zw().groups if g.created_at <= at], lambda g: render.group(g, base(request)), headers)

    route("/api/v2/groups", list_groups)

    def list_sla_policies(request: Request) -> Response:
        """Not paginated: every policy at once (https://developer.zendesk.com/api-reference/ticketing/business-rules/sla_policies/)."""
        headers = check(request, "list_sla_policies", set())
        at = now()
        policies = sorted((p for p in zw().policies if p.created_at <= at), key=lambda p: p.position)
        return JSONResponse({"sla_policies": [render.sla_policy(p, base(request)) for p in policies], "next_page": None,
                             "previous_page": None, "count": len(policies)}, headers=headers)

    route("/api/v2/slas/policies", list_sla_policies)

    def list_schedules(request: Request) -> Response:
        headers = check(request, "list_schedules", set())
        return JSONResponse({"schedules": [render.schedule(zw())]}, headers=headers)

    route("/api/v2/business_hours/schedules", list_schedules)

    def list_holidays(request: Request, schedule_id: str) -> Response:
        headers = check(request, "list_holidays", set())
        if schedule_id != str(zw().schedule.id):
            raise not_found()
        return JSONResponse({"holidays": render.holidays(zw())}, headers=headers)

    route("/api/v2/business_hours/schedules/{schedule_id}/holidays", list_holidays)

    SCORES = {"offered", "unoffered", "received", "received_with_comment", "received_without_comment", "good",
              "good_with_comment", "good_without_comment", "bad", "bad_with_comment", "bad_without_comment"}

    def list_ratings(request: Request) -> Response:
        """Filters `score`, `start_time`, `end_time` (the rating's creation, i.e. when the survey was offered)."""
        headers = check(request, "list_satisfaction_ratings", PAGING | {"score", "start_time", "end_time", "sort_by", "sort_order"})
        score = request.query_params.get("score")
        if score is not None and score not in SCORES:
            raise bad_request(f"Invalid score {score!r}")
        start = int_param(request, "start_time")
        end = int_param(request, "end_time")
        at = now()

        def matching() -> list[Rating]:
            out = []
            for r in zw().ratings:
                if r.offered_at > at:
                    continue
                created = int(r.offered_at.timestamp())
                if (start is not None and created < start) or (end is not None and created > end):
                    continue
                s = r.score_at(at)
                has_comment = bool(r.comment) and s in ("good", "bad")
                kind = score or ""
                if kind:
                    head, _, tail = kind.partition("_")
                    received = s in ("good", "bad")
                    match = {"offered": s == "offered", "unoffered": False, "received": received, "good": s == "good", "bad": s == "bad"}[head]
                    if tail == "with_comment":
                        match = match and has_comment
                    elif tail == "without_comment":
                        match = match and not has_comment
                    if not match:
                        continue
                out.append(r)
            return out

        # Not a range of the id order: filtered once per `now` and filter, each page slices it (sandbox/zendesk/index.py).
        out = export_index(zw()).filtered("satisfaction_ratings", at, (score, start, end), matching)
        return paged(request, "satisfaction_ratings", out, lambda r: render.rating(r, at, base(request)), headers)

    route("/api/v2/satisfaction_ratings", list_ratings)

    def list_survey_responses(request: Request) -> Response:
        """The 1-5 CSAT survey's responses, cursor-paginated, filtered by `filter[created_at_start]` and
        `filter[created_at_end]` (Unix epoch in milliseconds), shape and filters from the CSAT survey responses
        reference page (api-reference/ticketing/ticket-management/csat_survey_responses, List Survey Responses).
        Its `filter[responder_ids]`, `filter[subject_zrns]` and `sort` are not simulated (a 400 here)."""
        headers = check(request, "list_survey_responses",
                        {"page[size]", "page[after]", "page[before]", "filter[created_at_start]", "filter[created_at_end]"})

        def when(name: str) -> datetime | None:
            ms = int_param(request, name)
            return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)

        found = export_index(zw()).visible_surveys(now(), when("filter[created_at_start]"), when("filter[created_at_end]"))
        return cursor_list(request, "survey_responses", found, render.survey_response, headers)

    route("/api/v2/guide/survey_responses", list_survey_responses)

    def show_ticket(request: Request, ticket_id: str) -> Response:
        """`include=metric_events` side-loads the ticket's metric events (Side-loading, supported endpoints: Tickets)."""
        headers = check(request, "show_ticket", {"include"})
        wanted = includes(request, {"metric_events", "users", "groups", "organizations", "slas", "metric_sets", "dates"})
        world, at, b = zw(), now(), base(request)
        try:
            ticket = world.tickets_by_id[int(ticket_id)]
        except (KeyError, ValueError) as exc:
            raise not_found() from exc
        if ticket.created_at > at or ticket.status_at(at) == "deleted":
            raise not_found()
        body: dict[str, Any] = {"ticket": render.ticket(world, ticket, at, b)}
        if "metric_events" in wanted:
            events = [e for e in ticket.metric_events if e.time <= at]
            grouped: dict[str, list[dict[str, Any]]] = {}
            for e in events:
                grouped.setdefault(e.metric, []).append(render.metric_event(e))
            body["metric_events"] = grouped
        if "users" in wanted:
            ids = {ticket.requester_id, ticket.state(at).get("assignee_id")}
            body["users"] = [render.user(world, world.users_by_id[i], at, b) for i in sorted(x for x in ids if x)]
        return JSONResponse(body, headers=headers)

    route("/api/v2/tickets/{ticket_id}", show_ticket)

    # --- OAuth ----------------------------------------------------------------------------------------------
    def issue(scope: str, expires_in: int | None, refresh_ttl: int | None, with_refresh: bool = True) -> dict[str, Any]:
        access = "zat_" + secrets.token_urlsafe(24)
        refresh = "zrt_" + secrets.token_urlsafe(32) if with_refresh else None
        store["access"][access] = {"expires_at": time.time() + expires_in if expires_in else None, "refresh": refresh}
        if refresh:
            store["refresh"][refresh] = {"access": access, "scope": scope,
                                         "expires_at": time.time() + (refresh_ttl or REFRESH_TOKEN_TTL_DEFAULT)}
        stats.extra["oauth_tokens_issued"] += 1
        out: dict[str, Any] = {"access_token": access, "token_type": "bearer", "scope": scope, "expires_in": expires_in}
        if refresh:
            out.update({"refresh_token": refresh, "refresh_token_expires_in": refresh_ttl or REFRESH_TOKEN_TTL_DEFAULT})
        return out

    def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": error, "error_description": description}, status_code=status)

    async def authorize(request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != SANDBOX_CREDENTIALS["client_id"] or q.get("response_type") != "code":
            return oauth_error("invalid_request", "Unknown client_id, or response_type is not 'code'.")
        if q.get("code_challenge") and q.get("code_challenge_method") != "S256":
            return oauth_error("invalid_request", "code_challenge_method must be S256.")
        code = secrets.token_urlsafe(16)
        with state.lock:
            store["codes"][code] = {"challenge": q.get("code_challenge"), "redirect_uri": q.get("redirect_uri"),
                                    "scope": q.get("scope", "read"), "expires_at": time.time() + AUTHORIZATION_CODE_TTL}
        return RedirectResponse(f"{q.get('redirect_uri')}?{urlencode({'code': code, 'state': q.get('state', '')})}", status_code=302)

    app.add_api_route("/oauth/authorizations/new", authorize, methods=["GET"])

    async def tokens(request: Request) -> Response:
        """Create Token for Grant Type (https://developer.zendesk.com/api-reference/ticketing/oauth/grant_type_tokens/):
        JSON body; a refresh deletes the previous access and refresh token."""
        with state.lock:
            stats.by_route["oauth_tokens"] += 1
        try:
            form = json.loads(await request.body())
            assert isinstance(form, dict)
        except Exception:
            return oauth_error("invalid_request", "The request body must be a JSON object.")
        grant = form.get("grant_type")
        expires_in = form.get("expires_in")
        refresh_ttl = form.get("refresh_token_expires_in")
        if expires_in is not None and not (isinstance(expires_in, int) and 300 < expires_in < 172_800):
            return oauth_error("invalid_request", "expires_in must be more than 300 and less than 172800 seconds.")
        client_ok = form.get("client_id") == SANDBOX_CREDENTIALS["client_id"] and form.get("client_secret") == SANDBOX_CREDENTIALS["client_secret"]
        with state.lock:
            if grant == "authorization_code":
                rec = store["codes"].pop(str(form.get("code")), None)
                if rec is None or rec["expires_at"] < time.time():
                    return oauth_error("invalid_grant", "The authorization code is invalid, expired or already used.")
                if rec["challenge"]:
                    digest = base64.urlsafe_b64encode(hashlib.sha256(str(form.get("code_verifier", "")).encode()).digest()).rstrip(b"=").decode()
                    if digest != rec["challenge"]:
                        return oauth_error("invalid_grant", "The code verifier does not match the challenge.")
                elif not client_ok:
                    return oauth_error("invalid_client", "Client authentication failed.", 401)
                return JSONResponse(issue(rec["scope"], expires_in, refresh_ttl), status_code=201)
            if grant == "refresh_token":
                if not client_ok:
                    return oauth_error("invalid_client", "Client authentication failed.", 401)
                old = store["refresh"].pop(str(form.get("refresh_token", "")), None)
                if old is None or old["expires_at"] <= time.time():
                    return oauth_error("invalid_grant", "The refresh token is invalid, expired or revoked.")
                store["access"].pop(old["access"], None)  # the previous pair is deleted: no grace period
                stats.extra["oauth_refreshes"] += 1
                return JSONResponse(issue(old["scope"], expires_in, refresh_ttl), status_code=201)
            if grant == "client_credentials":
                if not client_ok:
                    return oauth_error("invalid_client", "Client authentication failed.", 401)
                return JSONResponse(issue(str(form.get("scope", "read")), expires_in, None, with_refresh=False), status_code=201)
        return oauth_error("unsupported_grant_type", f"Unsupported grant_type {grant!r}.")

    app.add_api_route("/oauth/tokens", tokens, methods=["POST"])

    def revoke_all() -> None:
        """Sandbox control: revoke every OAuth token (a test's 'revoked token')."""
        with state.lock:
            store["access"].clear()
            store["refresh"].clear()

    app.state.revoke_all = revoke_all
    return app


SIMULATOR = Simulator(create_app, credentials=SANDBOX_CREDENTIALS)
"""The sandbox's API token and OAuth client; the client code picks the API token when both are set."""
