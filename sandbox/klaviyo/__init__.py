"""Klaviyo simulator: the REST API (JSON:API, revision 2026-07-15) over the world's email business.

What it enforces, as Klaviyo does: the `revision` header (missing or unknown -> 400 with Klaviyo's error body),
private-key and OAuth bearer auth, per-operation rate limits in fixed 1 s / 60 s windows (429 with `Retry-After`
and Klaviyo's `throttled` error), `page[size]` bounds per endpoint, the filter grammar with the allowed
field/operator pairs per endpoint (quoted datetimes are an invalid filter), the campaigns channel filter, cursor
pagination through `links.next`, and bulk profile import jobs that complete asynchronously and report bad rows.

OAuth: `/oauth/authorize` (auto-consents, PKCE S256), `/oauth/token` (authorization_code, refresh_token; HTTP
Basic client auth; form body) and `/oauth/revoke`. Refresh tokens rotate. Sandbox assumption, documented in
DECISIONS.md: the replaced refresh token stays valid until the new access or refresh token is first used (a grace
that lets a client that crashed before persisting the new token recover with the old one).

Option `klaviyo_rate_scale` (default 1) multiplies every limit, as the client's `KLAVIYO_RATE_LIMIT_SCALE` does
(memory benchmarks lift the limits). Pages are answered from indexes (sandbox/klaviyo/index.py), not by filtering
the world per request.
"""

from __future__ import annotations

import base64
import functools
import gc
import hashlib
import json
import math
import re
import secrets
import time
import uuid
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette._utils import get_route_path
from starlette.datastructures import QueryParams
from starlette.types import Receive, Scope, Send

from sandbox.common.openapi import (
    MethodNotAllowed,
    NoRoute,
    Operation,
    fallback_route,
    install_route_errors,
    lazy_spec,
    local_path,
    warm,
)
from sandbox.common.ratelimit import WindowCounter
from sandbox.common.routing import Endpoint, plain_route
from sandbox.common.simulator import Simulator
from sandbox.common.state import SandboxState
from sandbox.common.window import Window

from .index import Compiled, EventIndex, SortedRecords
from .world import Group, KlaviyoWorld, Profile, kid

# Public sandbox-only values, shaped unlike real keys so nobody (and no secret scanner) takes them for one.
SANDBOX_CREDENTIALS = {
    "api_key": "pk_sandbox_not_secret",
    "client_id": "sandbox-klaviyo-client",
    "client_secret": "sandbox-klaviyo-client-secret",
    "redirect_uri": "http://127.0.0.1:8799/oauth/callback",
}
GA_REVISIONS = {
    "2024-02-15", "2024-05-15", "2024-06-15", "2024-07-15", "2024-10-15", "2025-01-15", "2025-04-15",
    "2025-07-15", "2025-10-15", "2026-01-15", "2026-04-15", "2026-07-15", "2026-10-15",
}
JSONAPI = "application/vnd.api+json"
ACCESS_TTL_SECONDS = 3600

# Operation -> (burst per second, steady per minute), from `x-klaviyo-ratelimit` in the spec.
LIMITS: dict[str, tuple[int, int]] = {
    "get_campaigns": (10, 150),
    "get_messages_for_campaign": (10, 150),
    "get_events": (350, 3500),
    "get_flows": (3, 60),
    "get_actions_for_flow": (3, 60),
    "get_flow_action_messages": (3, 60),
    "get_metrics": (10, 150),
    "get_profiles": (75, 750),
    "get_lists": (75, 750),
    "get_list": (75, 750),
    "get_profiles_for_list": (75, 750),
    "get_segments": (75, 750),
    "get_segment": (75, 750),
    "get_profiles_for_segment": (75, 750),
    "profile_count": (1, 15),
    "bulk_import_profiles": (10, 150),
    "get_bulk_import_profiles_job": (10, 150),
    "get_errors_for_bulk_import_profiles_job": (10, 150),
}
PAGE_MAX = {
    "get_campaigns": 100, "get_events": 1000, "get_profiles": 100, "get_flows": 50, "get_actions_for_flow": 50,
    "get_flow_action_messages": 50, "get_lists": 10, "get_segments": 10, "get_profiles_for_list": 100,
    "get_profiles_for_segment": 100, "get_errors_for_bulk_import_profiles_job": 100,
}
PAGE_DEFAULT = {
    "get_campaigns": 100, "get_events": 200, "get_profiles": 20, "get_flows": 50, "get_actions_for_flow": 50,
    "get_flow_action_messages": 50, "get_lists": 10, "get_segments": 10, "get_profiles_for_list": 20,
    "get_profiles_for_segment": 20, "get_errors_for_bulk_import_profiles_job": 20,
}
PROFILE_SORTS = {"created", "updated", "id", "email"}
"""What `GET /api/profiles` sorts by (`sort`, either way)."""
FREEZE_WORLD_EVENTS = 100_000
"""From this many events (the large world has 550,000; tests' small world a few thousand) the world is frozen out of
the garbage collector once built."""
SPEC = lazy_spec("klaviyo/stable.json", query_style="form")
"""The vendored OpenAPI spec (revision 2026-07-15): parameters, filters and rate limits per operation come from it."""


@functools.cache
def allowed_filters(op_name: str) -> dict[str, set[str]]:
    """Filter field -> operators allowed on this operation (`x-klaviyo-filters`)."""
    op = _operation(op_name)
    found: dict[str, set[str]] = {}
    for fld, spec_ in ((op.raw.get("x-klaviyo-filters") if op else None) or {}).items():
        found[fld] = {o for group in spec_.get("operators", {}).values() for o in group}
    return found


@functools.cache
def datetime_fields(op_name: str) -> set[str]:
    op = _operation(op_name)
    filters = (op.raw.get("x-klaviyo-filters") if op else None) or {}
    return {f for f, spec_ in filters.items() if (spec_.get("value") or {}).get("format") == "date-time"}


def _operation(op_name: str) -> Operation | None:
    index = SPEC().__dict__.setdefault("_by_id", {})
    if not index:
        for op in SPEC().operations("get") + SPEC().operations("post"):
            index[op.operation_id] = op
    return index.get(op_name)  # type: ignore[no-any-return]


@functools.cache
def _page_size_schema(op_name: str) -> dict[str, Any]:
    op = _operation(op_name)
    return (op.query_schema("page[size]") if op else None) or {}


def spec_limits(op_name: str) -> tuple[int, int]:
    """(burst per second, steady per minute) from `x-klaviyo-ratelimit`."""
    op = _operation(op_name)
    rl = (op.raw.get("x-klaviyo-ratelimit") if op else None) or {"burst": "75/s", "steady": "700/m"}
    return int(rl["burst"].split("/")[0]), int(rl["steady"].split("/")[0])


EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")


class ApiError(Exception):
    def __init__(self, status: int, code: str, title: str, detail: str, parameter: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.code, self.title, self.detail, self.parameter = status, code, title, detail, parameter
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        error: dict[str, Any] = {"id": str(uuid.uuid4()), "code": self.code, "title": self.title, "detail": self.detail}
        error["source"] = {"parameter": self.parameter} if self.parameter else {"pointer": "/data/"}
        return JSONResponse({"errors": [error]}, status_code=self.status, headers=self.headers, media_type=JSONAPI)


PLURAL = {"campaign-message": "campaign-messages", "flow-action": "flow-actions", "flow-message": "flow-messages"}
SINGULAR_RELATIONSHIPS = {"metric", "profile", "campaign", "flow", "flow-action", "template", "tag-group", "image", "conversation"}


def template_id(message_id: str) -> str:
    """Each message is rendered from its own template (Klaviyo copies the template into the message)."""
    return kid("template", message_id, length=6)


def sparse_attributes(attributes: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """`fields[type]=a,b.c`: only those attributes (dotted names pick inside an object attribute)."""
    out: dict[str, Any] = {}
    for name in fields:
        head, _, rest = name.partition(".")
        if head not in attributes:
            continue
        if not rest:
            out[head] = attributes[head]
        elif isinstance(attributes[head], dict):
            inner = sparse_attributes(attributes[head], [rest])
            out[head] = {**(out.get(head) or {}), **inner} if isinstance(out.get(head), dict) or head not in out else out[head]
    return out


def md5_uuid(text: str) -> str:
    """`str(uuid.UUID(md5(text).hexdigest()))`, formatted directly (one per event on every page)."""
    h = hashlib.md5(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat() if t is not None else None


def profile_identity(p: Profile) -> dict[str, Any]:
    """A profile's attributes before `updated`, as the world made them (a bulk import may override some)."""
    c = p.customer
    return {"email": p.email, "phone_number": c.phone, "external_id": None, "first_name": c.first_name, "last_name": c.last_name,
            "organization": None, "locale": "en-US", "title": None, "image": None, "created": iso(p.created)}


def profile_place(p: Profile) -> dict[str, Any]:
    """A profile's attributes after `updated`, as the world made them."""
    c = p.customer
    return {"last_event_date": None,
            "location": {"address1": None, "address2": None, "city": c.city, "country": c.country, "latitude": None,
                         "longitude": None, "region": c.province, "zip": c.zip, "timezone": None, "ip": None},
            "properties": {}}


@dataclass
class ProfileParts:
    """A profile's JSON as `profile_json` joins it: `head` up to `"updated":`, `place` after it, `tail` after the base
    URL. `updated` and `subscriptions` (serialised) change only at the profile's `changes` (its creation, consent,
    suppressions, last edit); they are kept for the `seen` first of them, those up to the `now` they were made at,
    joined with the head and place as `attributes` (and `with_subscriptions`) up to the `joined_group_at` a member
    page adds. `checked`: the world's `now` they were last found right for (the same object: no bisection).
    `whole` (and `whole_subscriptions`): the profile's whole JSON for the base URL `root`, as a profiles page shows
    it, kept with the rest (a page is then a join of 100 kept objects, not 100 joins of five)."""

    head: bytes
    place: bytes
    tail: bytes
    changes: list[datetime]
    seen: int = -1
    updated: bytes = b""
    attributes: bytes = b""
    with_subscriptions: bytes | None = None
    checked: datetime | None = None
    root: bytes | None = None
    whole: bytes | None = None
    whole_subscriptions: bytes | None = None


ORJSON_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
"""orjson serialises only what it writes exactly as the standard library would; the rest raises TypeError."""


class JSONAPIResponse(JSONResponse):
    """A JSON:API document, serialised by orjson: the same bytes as `JSONResponse` (compact, UTF-8 unescaped) at a
    tenth of the CPU, which a 1,000-event page needs. Whatever orjson does not serialise exactly as the standard
    library would (a datetime, a non-string key) goes through `JSONResponse`'s encoder, with its errors."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=ORJSON_STRICT)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            return super().render(content)


EVENT_HEAD = b'{"type":"event","id":%s,"attributes":{"timestamp":%d,"event_properties":%s,"datetime":%s,"uuid":%s},"relationships":{"profile":{"data":{"type":"profile","id":%s},"links":{"self":"'
EVENT_TAIL = (
    b'%s/relationships/profile","related":"%s/profile"}},"metric":{"data":{"type":"metric","id":%s},'
    b'"links":{"self":"%s/relationships/metric","related":"%s/metric"}}},"links":{"self":"%s/"}}'
)
"""One event as `render_event` shapes it, cut where the request's base URL first appears (`event_json`)."""


def render_event(root: str, e: Any, metric_ids: dict[str, str]) -> dict[str, Any]:
    # `rel` spelled out, with the base URL (`root`) read once per request: a page renders up to 1,000 events.
    url = f"{root}/api/events/{e.id}"
    return {"type": "event", "id": e.id,
            "attributes": {"timestamp": int(e.datetime.timestamp()), "event_properties": e.properties, "datetime": iso(e.datetime), "uuid": md5_uuid(e.id)},
            "relationships": {"profile": {"data": {"type": "profile", "id": e.profile_id}, "links": {"self": f"{url}/relationships/profile", "related": f"{url}/profile"}},
                              "metric": {"data": {"type": "metric", "id": metric_ids[e.metric]}, "links": {"self": f"{url}/relationships/metric", "related": f"{url}/metric"}}},
            "links": {"self": f"{url}/"}}


def event_head(e: Any) -> bytes:
    """`render_event` serialised up to its first URL: what does not depend on the request."""
    # The options `JSONAPIResponse` renders with: what it would hand to the standard library raises here instead.
    properties = orjson.dumps(e.properties, option=ORJSON_STRICT)
    return EVENT_HEAD % (orjson.dumps(e.id), int(e.datetime.timestamp()), properties, orjson.dumps(iso(e.datetime)),
                         orjson.dumps(md5_uuid(e.id)), orjson.dumps(e.profile_id))


def event_json(root: bytes, e: Any, metric_id: bytes, head: bytes | None = None) -> bytes:
    """`render_event` serialised, byte for byte (tests/sandbox/klaviyo/test_klaviyo_index.py compares them), from the
    event's `head` (kept by the index) and `root`, the request's base URL JSON-escaped; `metric_id` JSON-encoded.
    A 1,000-event page is then a join per event instead of eleven dicts and an encoder pass each."""
    url = root + b"/api/events/" + orjson.dumps(e.id)[1:-1]
    return (head or event_head(e)) + EVENT_TAIL % (url, url, metric_id, url, url, url)


def events_json(root: bytes, page: Sequence[Any], metric_ids: dict[str, bytes], heads: dict[str, bytes]) -> list[bytes]:
    """A page of events serialised one by one (`event_json` inlined), from their `heads` where the index still has
    them: the pages the index's pre-rendered bodies do not answer (another base URL, a filter it leaves to a scan)."""
    api = root + b"/api/events/"
    parts = []
    for e in page:
        url = api + orjson.dumps(e.id)[1:-1]
        parts.append((heads.get(e.id) or event_head(e)) + EVENT_TAIL % (url, url, metric_ids[e.metric], url, url, url))
    return parts


def serialised_document(data: Sequence[bytes], links: dict[str, str], headers: dict[str, str]) -> Response:
    """`{"data": [...], "links": ...}` from already serialised resources, the bytes `JSONAPIResponse` would write for
    the same objects, in one join: a 1,000-event page is a megabyte, and each extra copy of it (a join, then the
    encoder copying that into its own buffer) cost more than the page's lookups."""
    tail = b'],"links":' + orjson.dumps(links, option=ORJSON_STRICT) + b"}"
    if len(data) > 1:
        body = b",".join([b'{"data":[' + data[0], *data[1:-1], data[-1] + tail])
    else:
        body = b'{"data":[' + (data[0] if data else b"") + tail
    return Response(body, headers=headers, media_type=JSONAPI)


quote_plus_kept = functools.lru_cache(maxsize=4096)(quote_plus)
"""`quote_plus`, kept: a cursor chain's pages repeat their filter, sort and size in every `links.next`."""


def query_string(params: dict[str, str]) -> str:
    """`urlencode(params)` for string keys and values (what it does for them: `quote_plus` each, joined)."""
    return "&".join([f"{quote_plus_kept(k)}={quote_plus_kept(v)}" for k, v in params.items()])


PROFILE_LINKS = b'},"relationships":{},"links":{"self":"'
"""A serialised profile from the end of its attributes to its base URL (`profile_json`)."""


def joined_attribute(joined: datetime) -> bytes:
    """A member's `joined_group_at`, serialised as `profile_json` adds it after the attributes."""
    return b',"joined_group_at":' + orjson.dumps(iso(joined))


def parse_time(value: str, parameter: str = "filter") -> datetime:
    if value.startswith(("'", '"')):
        # Klaviyo rejects quoted datetimes in filters.
        raise ApiError(400, "invalid", "Invalid input.", f"Invalid filter provided: datetime {value} must not be quoted", parameter)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, "invalid", "Invalid input.", f"Invalid datetime {value!r} in filter", parameter) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- filter grammar: op(field,value) joined by and(...) or top-level commas --------------------------------
def _split_args(text: str) -> list[str]:
    args, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        args.append(cur.strip())
    return args


def parse_filter(text: str, op_name: str) -> list[tuple[str, str, str]]:
    """Parse into (operator, field, raw value) conditions, all AND-ed; validates against the allowed pairs."""
    conditions: list[tuple[str, str, str]] = []
    for part in _split_args(text):
        m = re.fullmatch(r"([a-z-]+)\((.*)\)", part, re.S)
        if not m:
            raise ApiError(400, "invalid", "Invalid input.", f"Invalid filter provided: {part!r}", "filter")
        operator, inner = m.group(1), m.group(2)
        if operator == "and":
            conditions += parse_filter(inner, op_name)
            continue
        args = _split_args(inner)
        if len(args) != 2:
            raise ApiError(400, "invalid", "Invalid input.", f"Invalid filter provided: {part!r}", "filter")
        field, value = args
        allowed = allowed_filters(op_name)
        if field not in allowed or operator not in allowed[field]:
            raise ApiError(400, "invalid", "Invalid input.", f"'{operator}' is not a valid operator for '{field}' on this endpoint", "filter")
        if field in datetime_fields(op_name):
            parse_time(value)
        conditions.append((operator, field, value))
    return conditions


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


OPERATORS: dict[str, Any] = {
    "equals": lambda a, v: a == v,
    "any": lambda a, v: a in v,
    "greater-than": lambda a, v: a > v,
    "greater-or-equal": lambda a, v: a >= v,
    "less-than": lambda a, v: a < v,
    "less-or-equal": lambda a, v: a <= v,
    "contains": lambda a, v: v in a,
    "starts-with": lambda a, v: str(a).startswith(v),
    "ends-with": lambda a, v: str(a).endswith(v),
    "has": lambda a, v: a == v,
}
DATETIME_FIELDS = {"updated_at", "created_at", "scheduled_at", "datetime", "updated", "created", "joined_group_at", "timestamp",
                   "subscriptions.email.marketing.suppression.timestamp", "subscriptions.email.marketing.list_suppressions.timestamp"}


def compile_conditions(conditions: list[tuple[str, str, str]]) -> list[Compiled]:
    """Each condition's value parsed once for the whole request (a datetime's parse error is kept, and raised when
    the condition is first checked against a record, as before)."""
    compiled = []
    for operator, field, raw in conditions:
        c = Compiled(operator, field, raw, OPERATORS[operator])
        try:
            if field in DATETIME_FIELDS:
                # the unix `timestamp` filter compares the same instant as `datetime`
                c.value = parse_time(raw)
            elif operator == "any":
                c.value = [_unquote(v) for v in _split_args(raw.strip()[1:-1])]
            elif raw in ("true", "false"):
                c.value = raw == "true"
            else:
                c.value = _unquote(raw)
        except ApiError as exc:
            c.error = exc
        compiled.append(c)
    return compiled


def holds(compiled: list[Compiled], getter: Any) -> bool:
    """Every compiled condition holds. `getter(field)` gives the record's value (None: it has none, nothing
    matches); a list value matches if any of its items does (e.g. a profile's suppressions)."""
    for c in compiled:
        actual = getter(c.field)
        if c.error is not None:
            raise c.error
        candidates = actual if isinstance(actual, list) else [actual]
        if not any(a is not None and c.test(a, c.value) for a in candidates):
            return False
    return True


def matches(conditions: list[tuple[str, str, str]] | list[Compiled], getter: Any) -> bool:
    """`holds` for raw (operator, field, value) conditions or already compiled ones."""
    compiled = [c for c in conditions if isinstance(c, Compiled)]
    if len(compiled) != len(conditions):
        compiled = compile_conditions(conditions)  # type: ignore[arg-type]
    return holds(compiled, getter)


@functools.lru_cache(maxsize=4096)
def query_piece(piece: str) -> list[tuple[str, str]]:
    """`parse_qsl` of one `&`-separated piece of a query string (what it does to each piece of a whole one), kept:
    a cursor chain's pages repeat their filter, sort and size, and unquoting a filter's escapes was a fifth of an
    events page's CPU. Read only (the list is shared)."""
    return parse_qsl(piece, keep_blank_values=True)


class PageRequest(Request):
    """A request whose query is parsed piece by piece (`query_piece`): the same `QueryParams` Starlette makes."""

    _pieces: QueryParams | None = None

    @property
    def query_params(self) -> QueryParams:
        if self._pieces is None:
            text = self.scope["query_string"].decode("latin-1")  # as `QueryParams(bytes)` decodes it
            self._pieces = QueryParams([pair for piece in text.split("&") for pair in query_piece(piece)])
        return self._pieces


class KlaviyoApp(FastAPI):
    """The simulator's app, with its page endpoints (events, profiles, a group's members: nine requests in ten of a
    load) reached directly: their `GET` is the endpoint's call and its response, the rest goes through the app's
    stack as any route. What the stack would add to them is done here as it does it: the endpoint's `ApiError` is
    answered by its handler's `exc.response()`, another exception gets the 500 `ServerErrorMiddleware` sends before
    raising it on; there is no body to read, no dependency to solve, no `HTTPException` to map (the endpoints raise
    none). Each layer (middleware, router, route, request/response wrapper, each with its `send` wrapper) cost a
    page little, and together a tenth of a page's CPU."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pages: dict[str, Endpoint] = {}
        """Route path -> endpoint, for the paths without parameters."""
        self.member_pages: dict[str, Endpoint] = {}
        """`lists`/`segments` -> the endpoint of `/api/{that}/{group_id}/profiles`."""

    def page_endpoint(self, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        endpoint = self.pages.get(path)
        if endpoint is not None:
            return endpoint, {}
        parts = path.split("/")
        if len(parts) == 5 and not parts[0] and parts[1] == "api" and parts[3] and parts[4] == "profiles":
            endpoint = self.member_pages.get(parts[2])
            if endpoint is not None:  # `{group_id}` as Starlette matches it: one non-empty segment
                return endpoint, {"group_id": parts[3]}
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.page_endpoint(get_route_path(scope)) if scope["type"] == "http" and scope["method"] == "GET" else None
        if found is None:
            await super().__call__(scope, receive, send)
            return
        endpoint, params = found
        scope["app"] = self
        try:
            response = await endpoint(PageRequest(scope, receive, send), **params)
        except ApiError as exc:
            response = exc.response()
        except Exception:
            await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            raise
        await response(scope, receive, send)


def create_app(state: SandboxState) -> FastAPI:
    app = KlaviyoApp(title="Klaviyo sandbox")
    store = state.provider_store("klaviyo")
    store.setdefault("rate_scale", float(state.options.get("klaviyo_rate_scale", 1.0)))
    store.setdefault("windows", {})
    store.setdefault("imported", {})
    store.setdefault("jobs", {})
    store.setdefault("grants", {})
    store.setdefault("codes", {})
    store.setdefault("access", {})
    store.setdefault("refresh", {})
    store.setdefault("requests", deque(maxlen=20_000))
    stats = state.stats["klaviyo"]

    # Every endpoint takes the request (and its path parameters) and reads its query itself, checked against the spec
    # (`spec_check`): Starlette routes, without FastAPI's per-request parameter machinery (sandbox/common/routing.py).
    def get(path: str) -> Callable[[Endpoint], Endpoint]:
        return plain_route(app.router, [path], ["GET"])

    def post(path: str) -> Callable[[Endpoint], Endpoint]:
        return plain_route(app.router, [path], ["POST"])

    def kw() -> KlaviyoWorld:
        return state.world.extension("klaviyo")

    # --- cross-cutting checks ---------------------------------------------------------------------------
    def check(request: Request, op: str) -> dict[str, str]:
        with state.lock:
            stats.by_route[op] += 1
            store["requests"].append({"op": op, "method": request.method, "path": request.url.path,
                                      "query": dict(request.query_params), "headers": {k.lower(): v for k, v in request.headers.items()},
                                      "at": time.time()})
        revision = request.headers.get("revision")
        if not revision:
            raise ApiError(400, "invalid", "Invalid input.", "The revision header is required. Set it to a valid API revision.", "revision")
        if revision.split(".")[0] not in GA_REVISIONS:
            raise ApiError(400, "invalid", "Invalid input.", f"Invalid revision: {revision!r} is not a valid API revision.", "revision")
        authenticate(request)
        headers = rate_limit(op)
        spec_check(request)
        return headers

    @functools.lru_cache(maxsize=1024)
    def spec_operation(method: str, path: str) -> Operation | None:
        """The spec's operation for a method and path (None: the spec has none), kept: a load asks a few dozen paths
        hundreds of times (`Operation` holds nothing of a request)."""
        try:
            return SPEC().match(method, path)
        except (NoRoute, MethodNotAllowed):
            return None

    def spec_check(request: Request) -> None:
        """Every query parameter, value and required header as the operation in the spec documents them."""
        operation = spec_operation(request.method, local_path(request))
        if operation is None:
            return
        for v in operation.check(request.query_params.multi_items(), request.headers):
            raise ApiError(400, "invalid", "Invalid input.", v.message, v.param)

    def authenticate(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if header.startswith("Klaviyo-API-Key "):
            if header.split(" ", 1)[1] == SANDBOX_CREDENTIALS["api_key"]:
                return
            raise ApiError(401, "authentication_failed", "Incorrect authentication credentials.", "Incorrect authentication credentials.")
        if header.startswith("Bearer "):
            token = header.split(" ", 1)[1]
            with state.lock:
                record = store["access"].get(token)
                if record is None or store["grants"][record["grant"]]["revoked"]:
                    raise ApiError(401, "authentication_failed", "Incorrect authentication credentials.", "Invalid or revoked access token.")
                if record["expires_at"] <= time.time():
                    raise ApiError(401, "authentication_failed", "Incorrect authentication credentials.", "Access token has expired.")
                _retire_predecessor(record.get("from_refresh"))
            return
        raise ApiError(401, "not_authenticated", "Authentication credentials were not provided.", "Missing or invalid authorization scheme. Please use Klaviyo-API-Key or Bearer.")

    def rate_limit(op: str) -> dict[str, str]:
        burst, steady = LIMITS.get(op) or spec_limits(op)
        scale = float(store["rate_scale"])
        with state.lock:
            key = (op, scale)
            if key not in store["windows"]:
                store["windows"][key] = (WindowCounter(max(1, math.floor(burst * scale)), 1.0), WindowCounter(max(1, math.floor(steady * scale)), 60.0))
            second, minute = store["windows"][key]
        ok_s, reset_s, _ = second.hit()
        ok_m, reset_m, remaining = minute.hit()
        if not (ok_s and ok_m):
            wait = max(1, math.ceil(reset_s if not ok_s else reset_m))
            with state.lock:
                stats.throttled += 1
                stats.extra[f"throttled:{op}"] += 1
            raise ApiError(429, "throttled", "Request was throttled.", f"Request was throttled. Expected available in {wait} second{'s' if wait > 1 else ''}.",
                           headers={"Retry-After": str(wait)})
        return {"RateLimit-Limit": str(minute.limit), "RateLimit-Remaining": str(remaining), "RateLimit-Reset": str(math.ceil(reset_m))}

    def page_params(request: Request, op: str) -> tuple[int, int]:
        raw = request.query_params.get("page[size]")
        documented = _page_size_schema(op)
        size = PAGE_DEFAULT.get(op) or int(documented.get("default", 20))
        maximum = PAGE_MAX.get(op) or int(documented.get("maximum", 100))
        if raw is not None:
            try:
                size = int(raw)
            except ValueError as exc:
                raise ApiError(400, "invalid", "Invalid input.", "page[size] must be an integer", "page[size]") from exc
            if not 1 <= size <= maximum:
                raise ApiError(400, "invalid", "Invalid input.", f"page[size] must be between 1 and {maximum}", "page[size]")
        cursor = request.query_params.get("page[cursor]")
        offset = 0
        if cursor:
            try:
                offset = int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":")[1])
            except Exception as exc:
                raise ApiError(400, "invalid", "Invalid input.", "Invalid page cursor", "page[cursor]") from exc
        return size, offset

    def paged(request: Request, op: str, items: Sequence[Any], render: Any, headers: dict[str, str], included: Any = None,
              render_page: Any = None) -> Response:
        """One page of `items` with its cursor links; `render` renders an item (a dict `document` may reshape), or
        `render_page` the whole page as serialised resources (None: it cannot, `render` does)."""
        size, offset = page_params(request, op)
        page = items[offset: offset + size]
        links: dict[str, str] = {"self": str(request.url)}
        params = dict(request.query_params)
        if offset + size < len(items):
            params["page[cursor]"] = base64.urlsafe_b64encode(f"bz:{offset + size}".encode()).decode()
            links["next"] = f"{request.url.scheme}://{request.url.netloc}{request.url.path}?{query_string(params)}"
        if offset > 0:
            params["page[cursor]"] = base64.urlsafe_b64encode(f"bz:{max(0, offset - size)}".encode()).decode()
            links["prev"] = f"{request.url.scheme}://{request.url.netloc}{request.url.path}?{query_string(params)}"
        serialised = render_page(page) if render_page is not None else None
        if serialised is not None:
            assert included is None, "a serialised page has no related resources"
            return serialised_document(serialised, links, headers)
        body: dict[str, Any] = {"data": [render(x) for x in page], "links": links}
        if included is not None:
            body["included"] = included(page)
        return document(request, body, headers)

    def document(request: Request, body: dict[str, Any], headers: dict[str, str], status: int = 200) -> JSONResponse:
        """A JSON:API document as the request shaped it: `include=` related resources, `fields[type]=` sparse
        fieldsets on every resource (primary and included)."""
        include = [i for i in request.query_params.get("include", "").split(",") if i]
        if include and "included" not in body:
            body["included"] = included_resources(request, body["data"], include)
        sparse = {k[len("fields["):-1]: v.split(",") for k, v in request.query_params.items() if k.startswith("fields[") and v}
        if sparse:
            for resource in ([body["data"]] if isinstance(body["data"], dict) else body["data"]) + body.get("included", []):
                if resource.get("type") in sparse:
                    resource["attributes"] = sparse_attributes(resource.get("attributes") or {}, sparse[resource["type"]])
        return JSONAPIResponse(body, status_code=status, headers=headers, media_type=JSONAPI)

    def included_resources(request: Request, data: Any, include: list[str]) -> list[dict[str, Any]]:
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        for resource in [data] if isinstance(data, dict) else data:
            rels = resource.setdefault("relationships", {})
            for name in include:
                rel_data = related(request, resource, name)
                url = f"{base(request)}/api/{PLURAL.get(resource['type'], resource['type'] + 's')}/{resource['id']}"
                rels[name] = {"data": rel_data, "links": {"self": f"{url}/relationships/{name}", "related": f"{url}/{name}"}}
                if rel_data is None:  # a to-one relationship to nothing: no relationship object
                    del rels[name]
                    continue
                for ref in rel_data if isinstance(rel_data, list) else [rel_data]:
                    key = (ref["type"], ref["id"])
                    if key not in seen:
                        found = resolve(request, ref["type"], ref["id"])
                        if found is not None:
                            seen[key] = found
        return list(seen.values())

    def related(request: Request, resource: dict[str, Any], name: str) -> Any:
        """Relationship data of `resource` for `name` (what the world links it to; [] when it links nothing)."""
        existing = ((resource.get("relationships") or {}).get(name) or {}).get("data")
        if existing is not None:
            return existing
        if resource["type"] == "profile" and name in ("lists", "segments"):
            kind = name[:-1]
            return [{"type": kind, "id": g.id} for g in kw().groups if g.kind == kind and resource["id"] in {m for m, t in g.members if t <= state.world.now}]
        if resource["type"] in ("campaign-message", "flow-message") and name == "template":
            return {"type": "template", "id": template_id(resource["id"])}
        return None if name in SINGULAR_RELATIONSHIPS else []

    def resolve(request: Request, kind: str, rid: str) -> dict[str, Any] | None:
        world = kw()
        now = state.world.now
        if kind == "metric":
            m = world.metrics_by_id.get(rid)
            return render_metric(request, m) if m else None
        if kind == "profile":
            p = world.profiles_by_id.get(rid)
            return render_profile(request, p, False, now) if p else None
        if kind in ("list", "segment"):
            g = world.groups_by_id.get(rid)
            return render_group(request, g, now, False) if g and g.kind == kind else None
        if kind == "campaign-message":
            msg = world.messages.get(rid)
            return render_message(request, msg, now) if msg and msg.campaign_id else None
        if kind == "template":
            msg = next((m for m in world.messages.values() if template_id(m.id) == rid), None)
            return render_template(request, msg) if msg else None
        return None


    def conditions(request: Request, op: str, required: bool = False) -> list[Compiled]:
        text = request.query_params.get("filter")
        if not text:
            if required:
                raise ApiError(400, "invalid", "Invalid input.", "A channel filter is required, e.g. filter=equals(messages.channel,'email')", "filter")
            return []
        key = (op, text)
        compiled = parsed_filters.get(key)
        if compiled is None:
            if len(parsed_filters) >= 4096:  # chains long finished
                parsed_filters.clear()
            compiled = parsed_filters[key] = compile_conditions(parse_filter(text, op))  # a filter it refuses raises, not kept
        return list(compiled)

    parsed_filters: dict[tuple[str, str], list[Compiled]] = {}
    """(operation, filter) -> its compiled conditions: every page of a cursor chain repeats its first page's filter, and
    parsing it character by character cost as much as the rest of a small page."""

    def sort_key(request: Request, allowed: set[str], default: str) -> tuple[str, bool]:
        sort = request.query_params.get("sort", default)
        if sort.lstrip("-") not in allowed:
            raise ApiError(400, "invalid", "Invalid input.", f"Invalid sort field {sort!r}", "sort")
        return sort.lstrip("-"), sort.startswith("-")

    def base(request: Request) -> str:
        # Object links carry the mount prefix (`/klaviyo`), as Klaviyo's carry its host.
        return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"

    def rel(request: Request, kind: str, parent: str, pid: str, data: Any) -> dict[str, Any]:
        url = f"{base(request)}/api/{parent}/{pid}"
        return {"data": data, "links": {"self": f"{url}/relationships/{kind}", "related": f"{url}/{kind}"}}

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    # --- renderers --------------------------------------------------------------------------------------
    def render_profile(request: Request, p: Profile, subscriptions: bool, now: datetime, joined: datetime | None = None) -> dict[str, Any]:
        imported = store["imported"].get(p.email, {})
        attrs: dict[str, Any] = {**profile_identity(p), "updated": iso(profile_updated(p, now)), **profile_place(p)}
        for key in ("first_name", "last_name", "phone_number", "external_id"):
            if key in imported.get("attributes", {}):
                attrs[key] = imported["attributes"][key]
        if imported.get("attributes", {}).get("location"):
            attrs["location"] = {**attrs["location"], **imported["attributes"]["location"]}
        attrs["properties"] = {**imported.get("attributes", {}).get("properties", {})}
        if subscriptions:
            attrs["subscriptions"] = render_subscriptions(p, now)
        if joined is not None:
            attrs["joined_group_at"] = iso(joined)
        return {"type": "profile", "id": p.id, "attributes": attrs, "relationships": {}, "links": {"self": f"{base(request)}/api/profiles/{p.id}/"}}

    def profile_json(root: bytes, p: Profile, subscriptions: bool, now: datetime, joined: datetime | None = None,
                     known: dict[str, ProfileParts] | None = None, joined_json: bytes | None = None) -> bytes:
        """`render_profile` serialised, byte for byte (tests/sandbox/klaviyo/test_klaviyo_index.py compares them), for
        a profile no bulk import has touched: its parts that never change are serialised once per world
        (`ProfileParts`), and so are `updated` and the subscriptions once `now` is past the profile's last change.
        `root`: the request's base URL, JSON-escaped; `joined_json`: `joined_attribute(joined)`, if the caller has it.
        Rendering 100 profiles as dicts was most of an L request's CPU."""
        parts = profile_attributes(p, subscriptions, now, known)
        if joined is None:
            if parts.root != root:
                parts.root, parts.whole, parts.whole_subscriptions = root, None, None
            whole = parts.whole_subscriptions if subscriptions else parts.whole
            if whole is not None:
                return whole
        attributes = parts.with_subscriptions if subscriptions else parts.attributes
        assert attributes is not None
        if joined is not None:
            return b"".join([attributes, joined_json or joined_attribute(joined), PROFILE_LINKS, root, parts.tail])
        whole = b"".join([attributes, PROFILE_LINKS, root, parts.tail])
        if subscriptions:
            parts.whole_subscriptions = whole
        else:
            parts.whole = whole
        return whole

    def profile_attributes(p: Profile, subscriptions: bool, now: datetime, known: dict[str, ProfileParts] | None = None) -> ProfileParts:
        """The profile's `ProfileParts` with `attributes` (and `with_subscriptions`, if asked) right for `now`."""
        parts = profile_parts(p, known)
        if parts.checked is not now:
            changes = bisect_right(parts.changes, now)
            if changes != parts.seen:  # `now` moved past one of the profile's changes (or came before it): all anew
                parts.seen, parts.with_subscriptions, parts.root = changes, None, None
                parts.updated = orjson.dumps(iso(profile_updated(p, now)))
                parts.attributes = parts.head + parts.updated + parts.place
            parts.checked = now
        if subscriptions and parts.with_subscriptions is None:
            parts.with_subscriptions = (parts.attributes + b',"subscriptions":'
                                        + orjson.dumps(render_subscriptions(p, now), option=ORJSON_STRICT))
        return parts

    def profile_parts(p: Profile, known: dict[str, ProfileParts] | None = None) -> ProfileParts:
        """The profile's `ProfileParts`, made on its first page and kept with the world (`known`: that store, as a
        page passes it)."""
        found = known if known is not None else kw().__dict__.setdefault("_profile_parts", {})
        parts = found.get(p.id)
        if parts is None:
            head = orjson.dumps({"type": "profile", "id": p.id, "attributes": profile_identity(p)}, option=ORJSON_STRICT)
            place = orjson.dumps(profile_place(p), option=ORJSON_STRICT)
            changes = sorted({p.created, p.customer.profile_updated_at, *(t for t, _ in p.suppressions), *([p.subscribed_at] if p.subscribed_at else [])})
            parts = found[p.id] = ProfileParts(head=head[:-2] + b',"updated":', place=b"," + place[1:-1],
                                               tail=b"/api/profiles/" + orjson.dumps(p.id)[1:-1] + b'/"}}', changes=changes)
        return parts  # type: ignore[no-any-return]

    def profile_pages(request: Request, subscriptions: bool, now: datetime) -> Any:
        """`render_page` for `paged`: a page of profiles (or of (profile, joined) members) serialised, None where
        `document` must reshape the objects (`include=`, sparse fieldsets)."""
        if "include" in request.query_params or any(k.startswith("fields[") for k in request.query_params):
            return None
        root = orjson.dumps(base(request))[1:-1]
        imported = store["imported"]
        known = kw().__dict__.setdefault("_profile_parts", {})

        def render_page(page: Sequence[Any]) -> list[bytes] | None:
            parts = []
            for item in page:
                # a profile, or a member: (profile, joined_group_at, its serialised attribute)
                p, joined, joined_json = item if isinstance(item, tuple) else (item, None, None)
                if imported and p.email in imported:
                    return None  # a bulk import's attributes can be anything a client sent: the dicts, as the encoder writes them
                parts.append(profile_json(root, p, subscriptions, now, joined, known, joined_json))
            return parts

        return render_page

    def kept_bodies(request: Request, index: SortedRecords, subscriptions: bool, lo: int, hi: int, desc: bool) -> Window | None:
        """`index.records[lo:hi]` (reversed if `desc`) as the serialised profiles a page shows, from the index's kept
        `bodies`, when they are this request's (its base URL, subscriptions or not), no bulk import has touched a
        profile and no `include=` or sparse fieldset reshapes them: the page is then a slice of them, as an events
        page is. None otherwise (`profile_pages` serialises the page)."""
        if index.bodies is None or store["imported"]:
            return None
        if "include" in request.query_params or any(k.startswith("fields[") for k in request.query_params):
            return None
        if index.bodies_for != (orjson.dumps(base(request))[1:-1], subscriptions):
            return None
        return Window(index.bodies, lo, hi, reverse=desc)

    def render_subscriptions(p: Profile, now: datetime) -> dict[str, Any]:
        supp = [(t, r) for t, r in p.suppressions if t <= now]
        unsub = next((t for t, r in supp if r == "UNSUBSCRIBE"), None)
        if unsub is not None:
            consent, consent_at = "UNSUBSCRIBED", unsub
        elif p.subscribed_at is not None and p.subscribed_at <= now:
            consent, consent_at = "SUBSCRIBED", p.subscribed_at
        else:
            consent, consent_at = "NEVER_SUBSCRIBED", None
        marketing = {
            "can_receive_email_marketing": consent == "SUBSCRIBED" and not supp,
            "consent": consent,
            "consent_timestamp": iso(consent_at),
            "last_updated": iso(max([t for t, _ in supp] + ([consent_at] if consent_at else []), default=p.created)),
            "method": "SHOPIFY" if consent_at else None,
            "method_detail": "",
            "custom_method_detail": None,
            "double_optin": False,
            "suppression": [{"reason": r, "timestamp": iso(t)} for t, r in supp],
            "list_suppressions": [],
        }
        return {"email": {"marketing": marketing}, "sms": None, "mobile_push": None}

    def profile_updated(p: Profile, now: datetime) -> datetime:
        stamp = kw().profile_updated(p, now)
        imported_at = store["imported"].get(p.email, {}).get("updated")
        return max(stamp, imported_at) if imported_at else stamp

    # --- the account ------------------------------------------------------------------------------------
    ACCOUNT_ID = "NWRSBX"

    def render_account(request: Request) -> dict[str, Any]:
        return {"type": "account", "id": ACCOUNT_ID,
                "attributes": {"test_account": False,
                               "contact_information": {"default_sender_name": "Northwind Roasters", "default_sender_email": "hello@northwind.example",
                                                       "website_url": "https://northwind-roasters.example", "organization_name": "Northwind Roasters",
                                                       "street_address": {"address1": "1 Roastery Lane", "address2": None, "city": "Portland", "region": "OR",
                                                                          "country": "US", "zip": "97201"}},
                               "industry": "Food & Beverage", "timezone": "UTC", "preferred_currency": "USD", "public_api_key": "SbXpub",
                               "locale": "en-US"},
                "links": {"self": f"{base(request)}/api/accounts/{ACCOUNT_ID}/"}}

    @get("/api/accounts")
    @get("/api/accounts/")
    async def get_accounts(request: Request) -> Response:
        headers = check(request, "get_accounts")
        return document(request, {"data": [render_account(request)], "links": {"self": str(request.url)}}, headers)

    @get("/api/accounts/{account_id}")
    async def get_account(request: Request, account_id: str) -> Response:
        headers = check(request, "get_account")
        if account_id != ACCOUNT_ID:
            raise ApiError(404, "not_found", "Not found.", f"Account {account_id} not found")
        return document(request, {"data": render_account(request), "links": {"self": str(request.url)}}, headers)

    # --- metrics ----------------------------------------------------------------------------------------
    @get("/api/metrics")
    @get("/api/metrics/")
    async def get_metrics(request: Request) -> Response:
        headers = check(request, "get_metrics")
        conds = conditions(request, "get_metrics")
        data = [render_metric(request, m) for m in kw().metrics
                if matches(conds, lambda f, m=m: {"integration.name": m.integration.get("name"), "integration.category": m.integration.get("category")}.get(f))]
        return document(request, {"data": data, "links": {"self": str(request.url)}}, headers)

    def render_metric(request: Request, m: Any) -> dict[str, Any]:
        return {"type": "metric", "id": m.id, "attributes": {"name": m.name, "created": iso(m.created), "updated": iso(m.created),
                "integration": m.integration}, "relationships": {}, "links": {"self": f"{base(request)}/api/metrics/{m.id}/"}}

    @get("/api/metrics/{metric_id}")
    async def get_metric(request: Request, metric_id: str) -> Response:
        headers = check(request, "get_metric")
        m = kw().metrics_by_id.get(metric_id)
        if m is None:
            raise ApiError(404, "not_found", "Not found.", f"Metric {metric_id} not found")
        return document(request, {"data": render_metric(request, m), "links": {"self": str(request.url)}}, headers)

    # --- campaigns --------------------------------------------------------------------------------------
    def render_message(request: Request, msg: Any, now: datetime) -> dict[str, Any]:
        c = next(c for c in kw().campaigns if c.id == msg.campaign_id)
        return {
            "type": "campaign-message", "id": msg.id,
            "attributes": {
                "definition": {"channel": "email", "label": msg.name, "content": {"subject": msg.subject, "preview_text": "",
                               "from_email": "hello@northwind.example", "from_label": "Northwind Roasters", "reply_to_email": None,
                               "cc_email": None, "bcc_email": None}},
                "send_times": [{"datetime": iso(c.send_time), "is_local": False}],
                "created_at": iso(msg.created), "updated_at": iso(c.updated_at(now)),
            },
            "relationships": {"campaign": rel(request, "campaign", "campaign-messages", msg.id, {"type": "campaign", "id": c.id})},
            "links": {"self": f"{base(request)}/api/campaign-messages/{msg.id}/"},
        }

    def render_campaign(request: Request, c: Any, now: datetime) -> dict[str, Any]:
        return {
            "type": "campaign", "id": c.id,
            "attributes": {
                "name": c.name, "status": c.status(now), "archived": False,
                "audiences": {"included": [c.list_id], "excluded": []},
                "send_options": {"use_smart_sending": True},
                "tracking_options": {"add_tracking_params": False, "custom_tracking_params": None, "is_tracking_clicks": True, "is_tracking_opens": True},
                "send_strategy": {"method": "static", "datetime": iso(c.send_time), "options": None},
                "created_at": iso(c.created_at), "scheduled_at": iso(c.created_at), "updated_at": iso(c.updated_at(now)),
                "send_time": iso(c.send_time) if c.send_time <= now else None,
            },
            "relationships": {"campaign-messages": rel(request, "campaign-messages", "campaigns", c.id, [{"type": "campaign-message", "id": c.message.id}])},
            "links": {"self": f"{base(request)}/api/campaigns/{c.id}/"},
        }

    def find_campaign(campaign_id: str) -> Any:
        campaign = next((c for c in kw().campaigns if c.id == campaign_id and c.created_at <= state.world.now), None)
        if campaign is None:
            raise ApiError(404, "not_found", "Not found.", f"Campaign {campaign_id} not found")
        return campaign

    @get("/api/campaigns/{campaign_id}")
    async def get_campaign(request: Request, campaign_id: str) -> Response:
        headers = check(request, "get_campaign")
        c = find_campaign(campaign_id)
        return document(request, {"data": render_campaign(request, c, state.world.now), "links": {"self": str(request.url)}}, headers)

    @get("/api/campaign-messages/{message_id}")
    async def get_campaign_message(request: Request, message_id: str) -> Response:
        headers = check(request, "get_campaign_message")
        msg = kw().messages.get(message_id)
        if msg is None or not msg.campaign_id or find_campaign(msg.campaign_id) is None:
            raise ApiError(404, "not_found", "Not found.", f"Campaign message {message_id} not found")
        return document(request, {"data": render_message(request, msg, state.world.now), "links": {"self": str(request.url)}}, headers)

    @get("/api/campaign-recipient-estimations/{campaign_id}")
    async def get_campaign_recipient_estimation(request: Request, campaign_id: str) -> Response:
        """Profiles the campaign's list would reach: subscribed and not suppressed at send time (or now, if later)."""
        headers = check(request, "get_campaign_recipient_estimation")
        c = find_campaign(campaign_id)
        at = min(c.send_time, state.world.now)
        count = sum(1 for p in kw().profiles if p.can_email(at))
        return document(request, {"data": {"type": "campaign-recipient-estimation", "id": c.id, "attributes": {"estimated_recipient_count": count},
                                           "links": {"self": f"{base(request)}/api/campaign-recipient-estimations/{c.id}/"}},
                                  "links": {"self": str(request.url)}}, headers)

    def render_template(request: Request, msg: Any) -> dict[str, Any]:
        tid = template_id(msg.id)
        return {"type": "template", "id": tid,
                "attributes": {"name": f"{msg.name} template", "editor_type": "CODE", "html": f"<html><body><h1>{msg.subject}</h1></body></html>",
                               "text": msg.subject, "amp": None, "created": iso(msg.created), "updated": iso(msg.created)},
                "links": {"self": f"{base(request)}/api/templates/{tid}/"}}

    def visible_messages() -> list[Any]:
        now = state.world.now
        live = {c.message.id for c in kw().campaigns if c.created_at <= now}
        return [m for m in kw().messages.values() if m.created <= now and (m.campaign_id is None or m.id in live)]

    @get("/api/templates")
    @get("/api/templates/")
    async def get_templates(request: Request) -> Response:
        headers = check(request, "get_templates")
        conds = conditions(request, "get_templates")
        items = [m for m in visible_messages() if matches(conds, lambda f, m=m: {"id": template_id(m.id), "name": f"{m.name} template",
                                                                                 "created": m.created, "updated": m.created}.get(f))]
        key, desc = sort_key(request, {"id", "name", "created", "updated"}, "id")
        items.sort(key=lambda m: ({"id": template_id(m.id), "name": m.name}.get(key) or m.created, m.id), reverse=desc)
        return paged(request, "get_templates", items, lambda m: render_template(request, m), headers)

    @get("/api/templates/{tid}")
    async def get_template(request: Request, tid: str) -> Response:
        headers = check(request, "get_template")
        msg = next((m for m in visible_messages() if template_id(m.id) == tid), None)
        if msg is None:
            raise ApiError(404, "not_found", "Not found.", f"Template {tid} not found")
        return document(request, {"data": render_template(request, msg), "links": {"self": str(request.url)}}, headers)

    @get("/api/campaigns")
    @get("/api/campaigns/")
    async def get_campaigns(request: Request) -> Response:
        headers = check(request, "get_campaigns")
        conds = conditions(request, "get_campaigns", required=True)
        channel = next((_unquote(c.raw) for c in conds if c.field == "messages.channel"), None)
        if channel is None:
            raise ApiError(400, "invalid", "Invalid input.", "A channel filter is required, e.g. filter=equals(messages.channel,'email')", "filter")
        now = state.world.now
        visible = [c for c in kw().campaigns if c.created_at <= now]

        def field(c: Any, name: str) -> Any:
            return {"messages.channel": "email", "updated_at": c.updated_at(now), "created_at": c.created_at, "archived": False,
                    "id": c.id, "name": c.name, "status": c.status(now), "scheduled_at": c.created_at}.get(name)

        items = [c for c in visible if matches(conds, lambda f, c=c: field(c, f))]
        key, desc = sort_key(request, {"created_at", "updated_at", "id", "name", "scheduled_at"}, "updated_at")
        items.sort(key=lambda c: (field(c, key) if key in ("updated_at", "created_at") else getattr(c, key if key != "scheduled_at" else "send_time"), c.id), reverse=desc)
        include = request.query_params.get("include", "")

        def render(c: Any) -> dict[str, Any]:
            return render_campaign(request, c, now)

        included = (lambda page: [render_message(request, c.message, now) for c in page]) if "campaign-messages" in include else None
        return paged(request, "get_campaigns", items, render, headers, included)

    @get("/api/campaigns/{campaign_id}/campaign-messages")
    async def get_messages_for_campaign(request: Request, campaign_id: str) -> Response:
        headers = check(request, "get_messages_for_campaign")
        campaign = find_campaign(campaign_id)
        return document(request, {"data": [render_message(request, campaign.message, state.world.now)], "links": {"self": str(request.url)}}, headers)

    # --- flows ------------------------------------------------------------------------------------------
    @get("/api/flows")
    @get("/api/flows/")
    async def get_flows(request: Request) -> Response:
        headers = check(request, "get_flows")
        conds = conditions(request, "get_flows")
        fields = {"updated": lambda f: f.updated, "created": lambda f: f.created, "archived": lambda f: False, "id": lambda f: f.id,
                  "name": lambda f: f.name, "status": lambda f: "live", "trigger_type": lambda f: f.trigger_type}
        items = [f for f in kw().flows if f.created <= state.world.now and matches(conds, lambda name, f=f: fields[name](f))]
        key, desc = sort_key(request, {"created", "updated", "id", "name"}, "updated")
        items.sort(key=lambda f: (getattr(f, key), f.id), reverse=desc)

        return paged(request, "get_flows", items, lambda f: render_flow(request, f), headers)

    def render_flow(request: Request, f: Any) -> dict[str, Any]:
        return {"type": "flow", "id": f.id,
                "attributes": {"name": f.name, "status": "live", "archived": False, "created": iso(f.created), "updated": iso(f.updated), "trigger_type": f.trigger_type},
                "relationships": {"flow-actions": rel(request, "flow-actions", "flows", f.id, [{"type": "flow-action", "id": a.id} for a in f.actions])},
                "links": {"self": f"{base(request)}/api/flows/{f.id}/"}}

    def render_action(request: Request, a: Any) -> dict[str, Any]:
        return {"type": "flow-action", "id": a.id,
                # 2026-07-15 shape: what the action does lives in `definition` (action_type/status moved there).
                "attributes": {"created": iso(a.created), "updated": iso(a.created),
                               "definition": {"id": a.id, "type": "send-email", "links": None, "data": None}},
                "relationships": {"flow": rel(request, "flow", "flow-actions", a.id, {"type": "flow", "id": a.flow_id}),
                                  "flow-messages": rel(request, "flow-messages", "flow-actions", a.id, [{"type": "flow-message", "id": a.message.id}])},
                "links": {"self": f"{base(request)}/api/flow-actions/{a.id}/"}}

    def render_flow_message(request: Request, msg: Any, action: Any) -> dict[str, Any]:
        return {"type": "flow-message", "id": msg.id,
                "attributes": {"channel": "email", "created": iso(msg.created), "updated": iso(msg.created),
                               "definition": {"id": msg.id, "name": msg.name, "subject_line": msg.subject, "preview_text": "",
                                              "from_email": "hello@northwind.example", "from_label": "Northwind Roasters",
                                              "template_id": template_id(msg.id)}},
                "relationships": {"flow-action": rel(request, "flow-action", "flow-messages", msg.id, {"type": "flow-action", "id": action.id})},
                "links": {"self": f"{base(request)}/api/flow-messages/{msg.id}/"}}

    def find_action(action_id: str) -> Any:
        action = next((a for f in kw().flows for a in f.actions if a.id == action_id and f.created <= state.world.now), None)
        if action is None:
            raise ApiError(404, "not_found", "Not found.", f"Flow action {action_id} not found")
        return action

    @get("/api/flows/{flow_id}")
    async def get_flow(request: Request, flow_id: str) -> Response:
        headers = check(request, "get_flow")
        flow = next((f for f in kw().flows if f.id == flow_id and f.created <= state.world.now), None)
        if flow is None:
            raise ApiError(404, "not_found", "Not found.", f"Flow {flow_id} not found")
        return document(request, {"data": render_flow(request, flow), "links": {"self": str(request.url)}}, headers)

    @get("/api/flow-actions/{action_id}")
    async def get_flow_action(request: Request, action_id: str) -> Response:
        headers = check(request, "get_flow_action")
        return document(request, {"data": render_action(request, find_action(action_id)), "links": {"self": str(request.url)}}, headers)

    @get("/api/flow-messages/{message_id}")
    async def get_flow_message(request: Request, message_id: str) -> Response:
        headers = check(request, "get_flow_message")
        msg = kw().messages.get(message_id)
        if msg is None or not msg.flow_action_id:
            raise ApiError(404, "not_found", "Not found.", f"Flow message {message_id} not found")
        action = find_action(msg.flow_action_id)
        return document(request, {"data": render_flow_message(request, msg, action), "links": {"self": str(request.url)}}, headers)

    @get("/api/flows/{flow_id}/flow-actions")
    async def get_actions_for_flow(request: Request, flow_id: str) -> Response:
        headers = check(request, "get_actions_for_flow")
        flow = next((f for f in kw().flows if f.id == flow_id), None)
        if flow is None:
            raise ApiError(404, "not_found", "Not found.", f"Flow {flow_id} not found")

        conds = conditions(request, "get_actions_for_flow")
        actions = [a for a in flow.actions if matches(conds, lambda f, a=a: {"id": a.id, "action_type": "SEND_EMAIL", "status": "live",
                                                                            "created": a.created, "updated": a.created}.get(f))]
        return paged(request, "get_actions_for_flow", actions, lambda a: render_action(request, a), headers)

    @get("/api/flow-actions/{action_id}/flow-messages")
    async def get_flow_action_messages(request: Request, action_id: str) -> Response:
        headers = check(request, "get_flow_action_messages")
        action = find_action(action_id)
        conds = conditions(request, "get_flow_action_messages")
        m = action.message
        msgs = [m] if matches(conds, lambda f: {"id": m.id, "name": m.name, "created": m.created, "updated": m.created}.get(f)) else []
        return paged(request, "get_flow_action_messages", msgs, lambda msg: render_flow_message(request, msg, action), headers)

    # --- events -----------------------------------------------------------------------------------------
    def event_index(root: bytes) -> EventIndex:
        """Built once per world: its events never change, `now` only hides the later ones (sandbox/klaviyo/index.py).
        `root`: the base URL (JSON-escaped) of the request that asks first, the one its pages are pre-rendered for."""
        world = kw()
        index = world.__dict__.get("_event_index")
        if index is None:
            metric_ids = {m.name: m.id for m in world.metrics}
            try:
                index = EventIndex(world.events, metric_ids, event_head)
            except TypeError:  # a property orjson does not write as the standard library would: rendered per page
                index = EventIndex(world.events, metric_ids)
            world.__dict__["_event_index"] = index
            encoded_metric = {name: orjson.dumps(mid) for name, mid in metric_ids.items()}
            index.bodies_of(index.all, root, lambda r, e, head: event_json(r, e, encoded_metric[e.metric], head))
            # The profiles' pages are pre-rendered with it, for the world's `now` (`ProfileParts`): as the events'
            # bodies, bought once per world before the pages that need them; an advance re-renders only the profiles
            # whose next change it passes. So are the indexes those pages are cut from, for the same `now`: the
            # profiles in every order the API sorts them by and each group's members (a large full load built them in
            # its first pages, a tenth of the simulator's CPU in the run, and the collector then re-scanned them on
            # every full pass), each with its records serialised for this base URL as their pages show them (profiles
            # with subscriptions, members without), while no bulk import has changed what a profile shows.
            known, now = world.__dict__.setdefault("_profile_parts", {}), state.world.now
            for p in world.profiles:
                if p.created <= now and p.email not in store["imported"]:
                    profile_attributes(p, True, now, known)
            for key in PROFILE_SORTS:
                profiles = sorted_profiles(now, key)
                if not store["imported"]:
                    profiles.keep_bodies((root, True), [profile_json(root, p, True, now, None, known) for p in profiles.records])
            for g in world.groups:
                members = member_index(g, now)
                if not store["imported"]:
                    members.keep_bodies((root, False), [profile_json(root, p, False, now, t, known, j) for p, t, j in members.records])
            if len(world.events) >= FREEZE_WORLD_EVENTS:
                # The world's millions of objects live as long as the process: out of the cyclic collector's way, its
                # full passes stop re-scanning them while pages allocate (a third of a large world's page CPU).
                gc.collect()
                gc.freeze()
        return index  # type: ignore[no-any-return]

    @get("/api/events")
    @get("/api/events/")
    async def get_events(request: Request) -> Response:
        headers = check(request, "get_events")
        conds = conditions(request, "get_events")
        world = kw()
        metric_ids = {m.name: m.id for m in world.metrics}
        key, desc = sort_key(request, {"datetime", "timestamp"}, "datetime")
        now = state.world.now

        def field(e: Any, name: str) -> Any:
            if name in ("datetime", "timestamp"):
                return e.datetime
            return {"metric_id": metric_ids[e.metric], "profile_id": e.profile_id, "profile": e.profile_id, "metric": metric_ids[e.metric]}.get(name)

        root = base(request)
        quoted_root = orjson.dumps(root)[1:-1]
        index = event_index(quoted_root)
        planned = index.select(conds, now)
        items: Sequence[Any]
        if planned is None:  # a condition that does not parse: the straightforward filter, which reports it as before
            items = [e for e in world.events if e.datetime <= now and matches(conds, lambda f, e=e: field(e, f))]
            if desc:
                items = items[::-1]
        else:
            candidates, lo, hi, rest = planned
            if rest:
                items = [e for e in candidates[lo:hi] if holds(rest, lambda f, e=e: field(e, f))]
                items = items[::-1] if desc else items
            else:
                items = Window(candidates, lo, hi, reverse=desc)

        if "include" in request.query_params or any(k.startswith("fields[") for k in request.query_params):
            # `document` reshapes the rendered objects (related resources, sparse fieldsets): they must be dicts.
            return paged(request, "get_events", items, lambda e: render_event(root, e, metric_ids), headers)
        encoded_metric = {name: orjson.dumps(mid) for name, mid in metric_ids.items()}
        try:
            if planned is not None and not planned[3]:
                # The index's candidates in its order: the page is a slice of their pre-rendered bodies.
                candidates, lo, hi, _ = planned
                bodies = index.bodies_of(candidates, quoted_root, lambda r, e, head: event_json(r, e, encoded_metric[e.metric], head))
                if bodies is not None:
                    return paged(request, "get_events", Window(bodies, lo, hi, reverse=desc), None, headers, render_page=lambda page: page)
            return paged(request, "get_events", items, None, headers,
                         render_page=lambda page: events_json(quoted_root, page, encoded_metric, index.heads))
        except TypeError:  # a property orjson does not write as the standard library would: the dicts, as before
            return paged(request, "get_events", items, lambda e: render_event(root, e, metric_ids), headers)

    app.pages["/api/events"] = app.pages["/api/events/"] = get_events

    @get("/api/events/{event_id}")
    async def get_event(request: Request, event_id: str) -> Response:
        headers = check(request, "get_event")
        world = kw()
        events = world.__dict__.setdefault("_events_by_id", {e.id: e for e in world.events})
        e = events.get(event_id)
        if e is None or e.datetime > state.world.now:
            raise ApiError(404, "not_found", "Not found.", f"Event {event_id} not found")
        body = {"data": render_event(base(request), e, {m.name: m.id for m in world.metrics}), "links": {"self": str(request.url)}}
        return document(request, body, headers)

    # --- profiles ---------------------------------------------------------------------------------------
    def all_profiles(now: datetime) -> list[Profile]:
        world = kw()
        visible = [p for p in world.profiles if p.created <= now]
        known = {p.email for p in visible}
        for email, rec in store["imported"].items():
            if email not in known and "profile" in rec:
                visible.append(rec["profile"])
        return visible

    @get("/api/profiles")
    @get("/api/profiles/")
    async def get_profiles(request: Request) -> Response:
        headers = check(request, "get_profiles")
        conds = conditions(request, "get_profiles")
        now = state.world.now
        subs = "subscriptions" in request.query_params.get("additional-fields[profile]", "")
        key, desc = sort_key(request, PROFILE_SORTS, "id")

        def values(p: Profile) -> dict[str, Any]:
            return {"updated": profile_updated(p, now), "created": p.created, "email": p.email, "id": p.id, "phone_number": p.customer.phone,
                    "external_id": None, "_kx": None,
                    "subscriptions.email.marketing.suppression.reason": [r for t, r in p.suppressions if t <= now],
                    "subscriptions.email.marketing.suppression.timestamp": [t for t, _ in p.suppressions if t <= now]}

        index = sorted_profiles(now, key)
        planned = index.select(conds, key)
        items: Sequence[Profile]
        if planned is None:  # a condition that does not parse: the straightforward filter, which reports it as before
            rows = []
            for p in all_profiles(now):
                row = values(p)
                if matches(conds, row.get):
                    rows.append((row[key], p.id, p))
            rows.sort(key=lambda r: (r[0], r[1]), reverse=desc)
            items = [r[2] for r in rows]
        else:
            lo, hi, rest = planned
            if rest:
                items = [p for p in index.records[lo:hi] if holds(rest, values(p).get)]
                items = items[::-1] if desc else items
            else:
                items = Window(index.records, lo, hi, reverse=desc)
                bodies = kept_bodies(request, index, subs, lo, hi, desc)
                if bodies is not None:
                    return paged(request, "get_profiles", bodies, None, headers, render_page=lambda page: page)
        return paged(request, "get_profiles", items, lambda p: render_profile(request, p, subs, now), headers,
                     render_page=profile_pages(request, subs, now))

    app.pages["/api/profiles"] = app.pages["/api/profiles/"] = get_profiles

    profile_indexes: dict[tuple[Any, ...], SortedRecords] = {}

    def sorted_profiles(now: datetime, key: str) -> SortedRecords:
        """Visible profiles in (`key`, id) order, rebuilt when `now` moves or a bulk import changes what they show."""
        imported = tuple((email, rec.get("updated"), id(rec.get("profile"))) for email, rec in store["imported"].items())
        stamp = (id(kw()), now, key, imported)
        index = profile_indexes.get(stamp)
        if index is None:
            if len(profile_indexes) >= 8:  # an older `now` or import state: never asked again
                profile_indexes.clear()
            value: dict[str, Any] = {"updated": lambda p: profile_updated(p, now), "created": lambda p: p.created,
                                     "email": lambda p: p.email, "id": lambda p: p.id}
            index = profile_indexes[stamp] = SortedRecords([(value[key](p), p.id, p) for p in all_profiles(now)])
        return index

    def find_profile(profile_id: str) -> Profile:
        now = state.world.now
        p = kw().profiles_by_id.get(profile_id) or next((x for x in all_profiles(now) if x.id == profile_id), None)
        if p is None or p.created > now:
            raise ApiError(404, "not_found", "Not found.", f"Profile {profile_id} not found")
        return p

    @get("/api/profiles/{profile_id}")
    async def get_profile(request: Request, profile_id: str) -> Response:
        headers = check(request, "get_profile")
        p = find_profile(profile_id)
        subs = "subscriptions" in request.query_params.get("additional-fields[profile]", "")
        return document(request, {"data": render_profile(request, p, subs, state.world.now), "links": {"self": str(request.url)}}, headers)

    def profile_groups(kind: str) -> Any:
        plural = f"{kind}s"

        async def groups_of_profile(request: Request, profile_id: str) -> Response:
            headers = check(request, f"get_{plural}_for_profile")
            p = find_profile(profile_id)
            now = state.world.now
            items = [g for g in kw().groups if g.kind == kind and any(m == p.id and t <= now for m, t in g.members)]
            body = {"data": [render_group(request, g, now, False) for g in items], "links": {"self": str(request.url)}}
            return document(request, body, headers)

        get(f"/api/profiles/{{profile_id}}/{plural}")(groups_of_profile)

    profile_groups("list")
    profile_groups("segment")

    # --- lists and segments -----------------------------------------------------------------------------
    def render_group(request: Request, g: Group, now: datetime, with_count: bool) -> dict[str, Any]:
        attrs: dict[str, Any] = {"name": g.name, "created": iso(g.created), "updated": iso(g.updated)}
        if g.kind == "segment":
            attrs.update({"definition": None, "is_active": True, "is_processing": False, "is_starred": False})
        else:
            attrs["opt_in_process"] = "single_opt_in"
        if with_count:
            attrs["profile_count"] = len(group_members(g, now))
        plural = "segments" if g.kind == "segment" else "lists"
        return {"type": g.kind, "id": g.id, "attributes": attrs, "relationships": {}, "links": {"self": f"{base(request)}/api/{plural}/{g.id}/"}}

    member_indexes: dict[tuple[Any, ...], SortedRecords] = {}

    def member_index(g: Group, now: datetime) -> SortedRecords:
        """Members as of `now` in (joined_group_at, id) order, each as (profile, joined_group_at, that attribute
        serialised); built once per group and `now`, not once per page."""
        stamp = (id(kw()), g.id, now)
        index = member_indexes.get(stamp)
        if index is None:
            if len(member_indexes) >= 16:  # an older `now`: never asked again
                member_indexes.clear()
            profiles = kw().profiles_by_id
            index = member_indexes[stamp] = SortedRecords([(t, profiles[pid].id, (profiles[pid], t, joined_attribute(t)))
                                                           for pid, t in g.members if t <= now and profiles[pid].created <= now])
        return index

    def group_members(g: Group, now: datetime) -> list[tuple[Profile, datetime, bytes]]:
        """Members as of `now` in join order."""
        return member_index(g, now).records

    def group_routes(kind: str) -> None:
        plural = "segments" if kind == "segment" else "lists"

        async def list_groups(request: Request) -> Response:
            op = f"get_{plural}"
            headers = check(request, op)
            conds = conditions(request, op)
            now = state.world.now
            def value(g: Group, f: str) -> Any:
                return {"id": g.id, "name": g.name, "created": g.created, "updated": g.updated, "is_active": True, "is_starred": False}.get(f)

            items = [g for g in kw().groups if g.kind == kind and g.created <= now and matches(conds, lambda f, g=g: value(g, f))]
            return paged(request, op, items, lambda g: render_group(request, g, now, False), headers)

        async def get_group(request: Request, group_id: str) -> Response:
            with_count = "profile_count" in request.query_params.get(f"additional-fields[{kind}]", "")
            headers = check(request, "profile_count" if with_count else f"get_{kind}")
            g = kw().groups_by_id.get(group_id)
            if g is None or g.kind != kind:
                raise ApiError(404, "not_found", "Not found.", f"{kind.title()} {group_id} not found")
            return document(request, {"data": render_group(request, g, state.world.now, with_count), "links": {"self": str(request.url)}}, headers)

        async def members(request: Request, group_id: str) -> Response:
            op = f"get_profiles_for_{kind}"
            headers = check(request, op)
            g = kw().groups_by_id.get(group_id)
            if g is None or g.kind != kind:
                raise ApiError(404, "not_found", "Not found.", f"{kind.title()} {group_id} not found")
            conds = conditions(request, op)
            now = state.world.now
            subs = "subscriptions" in request.query_params.get("additional-fields[profile]", "")
            def value(p: Profile, t: datetime, f: str) -> Any:
                return {"joined_group_at": t, "email": p.email, "phone_number": p.customer.phone, "profile_id": p.id}.get(f)

            # `sort` as the spec allows (joined_group_at, either way); range conditions on it are bisections.
            key, desc = sort_key(request, {"joined_group_at"}, "joined_group_at")
            index = member_index(g, now)
            planned = index.select(conds, key)
            items: Sequence[tuple[Profile, datetime, bytes]]
            if planned is None:  # a condition that does not parse: the straightforward filter, which reports it
                items = [m for m in index.records if matches(conds, lambda f, m=m: value(m[0], m[1], f))]
                items = items[::-1] if desc else items
            else:
                lo, hi, rest = planned
                if rest:
                    items = [m for m in index.records[lo:hi] if holds(rest, lambda f, m=m: value(m[0], m[1], f))]
                    items = items[::-1] if desc else items
                else:
                    items = Window(index.records, lo, hi, reverse=desc)
                    bodies = kept_bodies(request, index, subs, lo, hi, desc)
                    if bodies is not None:
                        return paged(request, op, bodies, None, headers, render_page=lambda page: page)
            return paged(request, op, items, lambda m: render_profile(request, m[0], subs, now, joined=m[1]), headers,
                         render_page=profile_pages(request, subs, now))

        get(f"/api/{plural}")(list_groups)
        get(f"/api/{plural}/")(list_groups)
        get(f"/api/{plural}/{{group_id}}")(get_group)
        get(f"/api/{plural}/{{group_id}}/profiles")(members)
        app.member_pages[plural] = members

    group_routes("segment")
    group_routes("list")

    # --- bulk profile import jobs ------------------------------------------------------------------------
    def render_job(request: Request, job: dict[str, Any]) -> dict[str, Any]:
        return {"type": "profile-bulk-import-job", "id": job["id"],
                "attributes": {"status": job["status"], "created_at": iso(job["created_at"]), "total_count": job["total"],
                               "completed_count": job["completed"], "failed_count": job["failed"],
                               "completed_at": iso(job.get("completed_at")), "expires_at": iso(job["created_at"] + timedelta(days=7)),
                               "started_at": iso(job.get("started_at"))},
                "relationships": {}, "links": {"self": f"{base(request)}/api/profile-bulk-import-jobs/{job['id']}/"}}

    def row_error(row: Any) -> str | None:
        if not isinstance(row, dict) or row.get("type") != "profile" or not isinstance(row.get("attributes"), dict):
            return "Each profile must be an object with type 'profile' and attributes."
        attrs = row["attributes"]
        if "subscriptions" in attrs:
            return "Subscriptions cannot be set through profile import; use the subscribe endpoint."
        email, phone = attrs.get("email"), attrs.get("phone_number")
        if not email and not phone and not attrs.get("external_id"):
            return "One of email, phone_number or external_id is required."
        if email is not None and not EMAIL_RE.match(str(email)):
            return f"Invalid email address: {email!r}"
        if phone is not None and not E164_RE.match(str(phone)):
            return f"Invalid phone number {phone!r}: must be E.164."
        return None

    @post("/api/profile-bulk-import-jobs")
    @post("/api/profile-bulk-import-jobs/")
    async def bulk_import_profiles(request: Request) -> Response:
        headers = check(request, "bulk_import_profiles")
        raw = await request.body()
        if len(raw) > 5 * 1024 * 1024:
            raise ApiError(413, "payload_too_large", "Payload too large.", "The maximum allowed payload size is 5MB.")
        try:
            body = json.loads(raw)
            data = body["data"]
            assert data["type"] == "profile-bulk-import-job"
            rows = data["attributes"]["profiles"]["data"]
            assert isinstance(rows, list)
        except Exception as exc:
            raise ApiError(400, "invalid", "Invalid input.", "Body must be a profile-bulk-import-job document.") from exc
        if not rows or len(rows) > 10_000:
            raise ApiError(400, "invalid", "Invalid input.", "A bulk import job accepts between 1 and 10,000 profiles.")
        now = state.world.now
        job = {"id": kid("job", uuid.uuid4()), "status": "queued", "created_at": now, "rows": rows, "total": len(rows),
               "completed": 0, "failed": 0, "errors": [], "polls": 0}
        with state.lock:
            store["jobs"][job["id"]] = job
            stats.extra["import_jobs"] += 1
            stats.extra["import_rows"] += len(rows)
        return JSONResponse({"data": render_job(request, job)}, status_code=202, headers=headers, media_type=JSONAPI)

    def advance_job(job: dict[str, Any]) -> None:
        """Jobs complete asynchronously: queued -> processing on the first poll, complete on the second."""
        job["polls"] += 1
        now = state.world.now
        if job["status"] == "queued":
            job["status"], job["started_at"] = "processing", now
            return
        if job["status"] != "processing":
            return
        world = kw()
        for i, row in enumerate(job["rows"]):
            error = row_error(row)
            if error:
                job["failed"] += 1
                job["errors"].append({"type": "import-error", "id": str(uuid.uuid4()),
                                      "attributes": {"code": "invalid", "title": "Invalid input.", "detail": error,
                                                     "source": {"pointer": f"/data/attributes/profiles/data/{i}"}, "original_payload": row}})
                continue
            attrs = row["attributes"]
            email = attrs.get("email")
            record = store["imported"].setdefault(email, {})
            record["attributes"] = {**record.get("attributes", {}), **{k: v for k, v in attrs.items() if k != "properties"}}
            record["attributes"]["properties"] = {**record.get("attributes", {}).get("properties", {}), **(attrs.get("properties") or {})}
            record["updated"] = now
            if email not in world.profiles_by_email and "profile" not in record:
                from sandbox.world.core import Customer

                loc = attrs.get("location") or {}
                customer = Customer(0, attrs.get("first_name") or "", attrs.get("last_name") or "", email, attrs.get("phone_number"),
                                    loc.get("city") or "", loc.get("region") or "", "", loc.get("country") or "", "", loc.get("zip") or "",
                                    now, False, [], now, "casual")
                record["profile"] = Profile(kid("imported", email), customer, now, None)
            job["completed"] += 1
            stats.extra["profiles_upserted"] += 1
        job["rows"] = []
        job["status"], job["completed_at"] = "complete", now

    @get("/api/profile-bulk-import-jobs/{job_id}")
    async def get_bulk_import_profiles_job(request: Request, job_id: str) -> Response:
        headers = check(request, "get_bulk_import_profiles_job")
        with state.lock:
            job = store["jobs"].get(job_id)
            if job is None:
                raise ApiError(404, "not_found", "Not found.", f"Job {job_id} not found")
            advance_job(job)
            return document(request, {"data": render_job(request, job), "links": {"self": str(request.url)}}, headers)

    @get("/api/profile-bulk-import-jobs/{job_id}/import-errors")
    async def get_errors_for_bulk_import_profiles_job(request: Request, job_id: str) -> Response:
        headers = check(request, "get_errors_for_bulk_import_profiles_job")
        job = store["jobs"].get(job_id)
        if job is None:
            raise ApiError(404, "not_found", "Not found.", f"Job {job_id} not found")
        return paged(request, "get_errors_for_bulk_import_profiles_job", job["errors"], lambda e: e, headers)

    # --- OAuth ------------------------------------------------------------------------------------------
    def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": error, "error_description": description}, status_code=status)

    def _retire_predecessor(refresh_token: str | None) -> None:
        """Once the new token is used, the refresh token it replaced stops working (end of the grace)."""
        if refresh_token and refresh_token in store["refresh"]:
            store["refresh"][refresh_token]["valid"] = False

    def issue(grant: str, predecessor: str | None) -> dict[str, Any]:
        access, refresh = "kat_" + secrets.token_urlsafe(24), "krt_" + secrets.token_urlsafe(32)
        store["access"][access] = {"grant": grant, "expires_at": time.time() + float(store.get("access_ttl", ACCESS_TTL_SECONDS)), "from_refresh": predecessor}
        store["refresh"][refresh] = {"grant": grant, "valid": True, "predecessor": predecessor}
        stats.extra["oauth_tokens_issued"] += 1
        return {"access_token": access, "token_type": "Bearer", "expires_in": int(store.get("access_ttl", ACCESS_TTL_SECONDS)),
                "refresh_token": refresh, "scope": store["grants"][grant]["scope"]}

    def client_ok(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            cid, secret = base64.b64decode(header[6:]).decode().split(":", 1)
        except Exception:
            return False
        return cid == SANDBOX_CREDENTIALS["client_id"] and secret == SANDBOX_CREDENTIALS["client_secret"]

    @get("/oauth/authorize")
    async def authorize(request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != SANDBOX_CREDENTIALS["client_id"] or q.get("response_type") != "code":
            return oauth_error("invalid_request", "Unknown client_id or response_type must be 'code'.")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return oauth_error("invalid_request", "PKCE with code_challenge_method=S256 is required.")
        code = secrets.token_urlsafe(16)
        with state.lock:
            store["codes"][code] = {"challenge": q["code_challenge"], "redirect_uri": q.get("redirect_uri"), "scope": q.get("scope", "")}
        # The sandbox user consents at once.
        return RedirectResponse(f"{q.get('redirect_uri')}?{urlencode({'code': code, 'state': q.get('state', '')})}", status_code=302)

    @post("/oauth/token")
    async def token(request: Request) -> Response:
        with state.lock:
            stats.by_route["oauth_token"] += 1
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return oauth_error("invalid_request", "Request body must be application/x-www-form-urlencoded.")
        if not client_ok(request):
            return oauth_error("invalid_client", "Client authentication failed.", 401)
        form = await request.form()
        grant_type = form.get("grant_type")
        with state.lock:
            if grant_type == "authorization_code":
                rec = store["codes"].pop(str(form.get("code")), None)
                if rec is None:
                    return oauth_error("invalid_grant", "Authorization code is invalid or was already used.")
                verifier = str(form.get("code_verifier", ""))
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if challenge != rec["challenge"]:
                    return oauth_error("invalid_grant", "Invalid code verifier.")
                if form.get("redirect_uri") != rec["redirect_uri"]:
                    return oauth_error("invalid_grant", "redirect_uri does not match the authorization request.")
                grant = str(uuid.uuid4())
                store["grants"][grant] = {"revoked": False, "scope": rec["scope"]}
                return JSONResponse(issue(grant, None))
            if grant_type == "refresh_token":
                old = str(form.get("refresh_token", ""))
                rec = store["refresh"].get(old)
                if rec is None or not rec["valid"] or store["grants"][rec["grant"]]["revoked"]:
                    return oauth_error("invalid_grant", "Refresh token is invalid, expired or revoked.")
                _retire_predecessor(rec.get("predecessor"))
                stats.extra["oauth_refreshes"] += 1
                return JSONResponse(issue(rec["grant"], old))
        return oauth_error("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}.")

    @post("/oauth/revoke")
    async def revoke(request: Request) -> Response:
        if not client_ok(request):
            return oauth_error("invalid_client", "Client authentication failed.", 401)
        form = await request.form()
        tok = str(form.get("token", ""))
        with state.lock:
            rec = store["refresh"].get(tok) or store["access"].get(tok)
            if rec is not None:
                store["grants"][rec["grant"]]["revoked"] = True
        return Response(status_code=200)

    def jsonapi_error(status: int, code: str, title: str, detail: str) -> JSONResponse:
        return ApiError(status, code, title, detail).response()

    def not_found(request: Request, op: Operation | None = None) -> JSONResponse:
        if op is not None:
            return jsonapi_error(404, "not_found", "Not found.", f"{op.template.split('/')[2]} {list(op.path_params.values())[-1]} not found")
        return jsonapi_error(404, "not_found", "Not found.", f"The path {local_path(request)} could not be found.")

    def method_not_allowed(request: Request, allowed: list[str]) -> JSONResponse:
        response = jsonapi_error(405, "method_not_allowed", "Method not allowed.", f'Method "{request.method}" not allowed.')
        response.headers["Allow"] = ", ".join(allowed)
        return response

    def empty_list(request: Request, op: Operation) -> Response:
        """A documented collection of objects this account has none of (tags, coupons, catalog items...)."""
        headers = check(request, op.operation_id)
        return document(request, {"data": [], "links": {"self": str(request.url)}}, headers)

    def fallback_not_found(request: Request, op: Operation | None) -> Response:
        if op is not None:
            check(request, op.operation_id)
        return not_found(request, op)

    def unsupported(request: Request, op: Operation) -> Response:
        check(request, op.operation_id)
        return jsonapi_error(400, "invalid", "Invalid input.", f"{op.method.upper()} {op.template} is documented but not simulated by the sandbox.")

    install_route_errors(app, not_found=not_found, method_not_allowed=method_not_allowed)
    fallback_route(app, SPEC, empty_list=empty_list, not_found=fallback_not_found, method_not_allowed=method_not_allowed, unsupported=unsupported)
    warm(SPEC)
    return app


SIMULATOR = Simulator(
    create_app,
    credentials={**SANDBOX_CREDENTIALS, "authorize_url": "{base_url}/oauth/authorize"},
)
