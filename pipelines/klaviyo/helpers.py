"""Klaviyo HTTP client: per-endpoint rate tiers, auth (private key or OAuth), JSON:API pagination.

dlt's `RESTClient` (what `rest_api` is built on) does the paging through `links.next`; our shared
`ProviderClient` session under it does the retries (429 + `Retry-After`, 5xx), the strict JSON and the 401 handling,
and paces each request with the shared layer's `WindowLimiter`. Klaviyo limits each operation separately in two fixed
windows (burst per second, steady per minute; https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling),
so there is one limiter per tier keeping both windows' counts (a single one for the provider would either waste the XL
tier or trip the S tier). Klaviyo's `RateLimit-*` headers tell only the steady window's state, approximately, and the
burst window is the one that paces a run: the limiter keeps both itself.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import msgspec
from dlt.common import jsonpath
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator, SinglePagePaginator
from requests import PreparedRequest
from requests.auth import AuthBase

from pipelines.common.config import ConfigurationError, ProviderConfig, env_float
from pipelines.common.http import Decoder, ProviderClient, WindowLimiter, shared_window_limiter
from pipelines.common.raw_schema import Drift, drift_error

from .settings import ENDPOINT_TIERS, PROFILE_COUNT_TIER, REVISION, TIERS, Tier

JSONAPI = "application/vnd.api+json"
DATA_PATH = jsonpath.compile_path("data")
NEXT_PATH = jsonpath.compile_path("links.next")
"""Compiled once: RESTClient compiles a string selector on every page (jsonpath-ng builds its parser each time, about
1 ms: some 4 s of the GIL at the large world's thousand pages)."""
WHOLE_BODY = jsonpath.compile_path("$")
"""The single-page readers take the body from `response.json()` themselves: RESTClient's selector only has to pass it."""


class EventIdentity(msgspec.Struct, gc=False):
    id: Any = None


class EventToOne(msgspec.Struct, gc=False):
    data: EventIdentity | None = None


class EventRelationships(msgspec.Struct, gc=False):
    profile: EventToOne | None = None


class EventAttributes(msgspec.Struct, gc=False):
    """The attributes the source loads. Values are `Any`: their types are checked where the arrow columns are built
    (source.EVENT_SCHEMA), which names a drifted column. `event_properties` stays JSON text as it arrived."""

    datetime: Any = None
    timestamp: Any = None
    uuid: Any = None
    event_properties: msgspec.Raw = msgspec.Raw()


class Event(msgspec.Struct, gc=False):
    id: Any
    attributes: EventAttributes
    relationships: EventRelationships | None = None


class PageLinks(msgspec.Struct, gc=False):
    next: str | None = None


class EventPage(msgspec.Struct):
    """A page of `GET /api/events` as the source reads it. A page of 1,000 events is about 1 MB of JSON, most of it
    each event's relationship and self links: parsed generically (orjson) into dicts it was half the client's CPU at
    the large world; msgspec builds only these fields and skips the rest (about 3 x faster)."""

    data: list[Event]
    links: PageLinks | None = None


_EVENT_PAGE = msgspec.json.Decoder(EventPage)
_EVENT_COLUMNS = {"id": "id", "relationships": "profile_id"}


def decode_event_page(body: bytes) -> EventPage:
    """An events page, or schema drift naming the column when its shape changed (an object where a list was, ...). A
    body that does not parse raises msgspec's `DecodeError`, a `ValueError`: the client layer retries it as malformed."""
    try:
        return _EVENT_PAGE.decode(body)
    except msgspec.ValidationError as exc:
        # "Expected `object | null`, got `array` - at `$.data[0].relationships.profile`": names only, never a value.
        found = re.search(r"Expected `([^`]*)`, got `([^`]*)`(?: - at `([^`]*)`)?", str(exc))
        expected, arrived, at = found.groups() if found else ("?", "?", None)
        parts = re.sub(r"\[\d+\]", "", at or "$").split(".")[1:]  # ["data", "attributes", "timestamp"]
        if parts[:2] == ["data", "attributes"] and len(parts) > 2:
            column = parts[2]
        elif parts[:1] == ["data"] and len(parts) > 1:
            column = _EVENT_COLUMNS.get(parts[1], parts[1])
        else:
            column = ".".join(parts) or "(the page)"
        kinds = {"str": "text", "int": "bigint", "float": "double", "bool": "bool", "array": "array", "object": "object", "null": "null"}
        raise drift_error("klaviyo", [Drift("events", column, expected, kinds.get(arrived, arrived), f"an events page's {at or 'body'}")]) from None


def decoder_for(request: PreparedRequest) -> Decoder | None:
    """The typed decoder for events pages (`EventPage`); other bodies are small and parsed generically."""
    if request.method == "GET" and (request.url or "").split("?", 1)[0].endswith("/api/events"):
        return decode_event_page
    return None

tier_requests: Counter[str] = Counter()
"""Requests sent per tier (retries included) in this process; the benchmark reads it."""
endpoint_requests: Counter[str] = Counter()
"""Requests sent per endpoint template."""


def rate_scale() -> float:
    """KLAVIYO_RATE_LIMIT_SCALE multiplies every tier (tests run a sandbox whose limits are scaled alike)."""
    scale = env_float("KLAVIYO_RATE_LIMIT_SCALE", 1.0) or 1.0
    return scale


def tier_windows(tier: Tier) -> list[tuple[int, float]]:
    """A tier's two limits as (requests, seconds) windows, scaled by `rate_scale`: exactly as documented. No margin
    for requests that arrive closer together than they were sent: `WindowLimiter` counts each one until its answer."""
    scale = rate_scale()
    return [(max(1, int(tier.burst * scale)), 1.0), (max(1, int(tier.steady * scale)), 60.0)]


def tier_limiter(tier: Tier) -> WindowLimiter:
    """The process-wide limiter of one tier: at most its burst in any second and its steady limit in any minute, each
    window used in full. The XS tier's 4 profile counts of a run go a second (and a round trip) apart, where one token
    bucket inside both windows (capacity 1, refilled at 15 a minute less a margin) sent them 4 s apart."""
    return shared_window_limiter(f"klaviyo:tier:{tier.name}", tier_windows(tier))


_TEMPLATES = [
    (re.compile("^" + re.sub(r"\{id\}", r"[^/]+", path) + "/?$"), method, path, tier) for (method, path), tier in ENDPOINT_TIERS.items()
]


def endpoint_of(method: str, path: str) -> tuple[str, str] | None:
    """(path template, tier name) of a request path like /api/segments/AbC123, or None (OAuth, unknown)."""
    path = "/api/" + path.split("/api/", 1)[1] if "/api/" in path else path
    for regex, m, template, tier in _TEMPLATES:
        if m == method and regex.match(path):
            return template, tier
    return None


sent_log: deque[tuple[str, str, float]] = deque(maxlen=200_000)
"""(endpoint template, tier, wall time) of each request as it leaves the limiter; the benchmark reads it."""


def tier_of(request: PreparedRequest) -> tuple[str, str] | None:
    """(endpoint template, tier name) of a request; the `profile_count` additional field has its own tier."""
    url = request.url or ""
    found = endpoint_of(request.method or "GET", url.split("?", 1)[0])
    if found is None:
        return None
    template, tier_name = found
    if "profile_count" in url and template in ("/api/segments/{id}", "/api/lists/{id}"):
        tier_name = PROFILE_COUNT_TIER
    return template, tier_name


def limiter_for(request: PreparedRequest) -> WindowLimiter | None:
    found = tier_of(request)
    return tier_limiter(TIERS[found[1]]) if found else None


def note_sent(request: PreparedRequest) -> None:
    """Count and time-stamp each request as its tier's limiter lets it through (the benchmark reads these)."""
    found = tier_of(request)
    if found is None:
        return
    template, tier_name = found
    tier_requests[tier_name] += 1
    endpoint_requests[template] += 1
    sent_log.append((template, tier_name, time.time()))


class ApiKeyAuth(AuthBase):
    """`Authorization: Klaviyo-API-Key <private key>`."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        r.headers["Authorization"] = f"Klaviyo-API-Key {self.api_key}"
        return r


def auth_for(config: ProviderConfig) -> AuthBase:
    """Private key unless OAuth is asked for (option auth="oauth" or KLAVIYO_AUTH=oauth) or no key is set."""
    mode = config.options.get("auth") or os.environ.get("KLAVIYO_AUTH") or ("api_key" if config.credentials.get("api_key") else "oauth")
    if mode == "api_key":
        return ApiKeyAuth(config.credential("api_key"))
    if mode == "oauth":
        from .oauth import OAuthSession, TokenStore

        if not (config.credentials.get("client_id") and config.credentials.get("client_secret")):
            raise ConfigurationError("klaviyo: set KLAVIYO_API_KEY, or KLAVIYO_CLIENT_ID + KLAVIYO_CLIENT_SECRET for OAuth")
        return OAuthSession(config, TokenStore.default()).auth()
    raise ConfigurationError(f"klaviyo: unknown auth mode {mode!r} (use 'api_key' or 'oauth')")


def make_client(config: ProviderConfig, auth: AuthBase | None = None) -> ProviderClient:
    """The shared client with Klaviyo's auth, revision header and per-tier limiters on every session."""
    return ProviderClient(config.name, None, limiter_for=limiter_for, on_send=note_sent, decoder_for=decoder_for,
                          auth=auth or auth_for(config), headers={"revision": REVISION, "accept": JSONAPI})


def rest_client(config: ProviderConfig, client: ProviderClient | None = None, runtime: RuntimeConfiguration | None = None) -> RESTClient:
    """A RESTClient on `client`'s session for this thread. `runtime`: dlt's runtime configuration, resolved once by
    the caller; without it RESTClient resolves it from every config provider on each construction (~50 ms)."""
    client = client or make_client(config)
    return RESTClient(
        base_url=config.base_url,
        session=client.session,
        paginator=JSONLinkPaginator(next_url_path=NEXT_PATH),
        data_selector=DATA_PATH,
        config=runtime,
    )


def thread_rest_clients(config: ProviderConfig, auth: AuthBase) -> Callable[[], RESTClient]:
    """`rest()` for a source: one `ProviderClient` (one connection pool, kept alive across requests) and one
    RESTClient per thread of dlt's extract pool, made on first use."""
    client = make_client(config, auth)
    runtime = resolve_configuration(RuntimeConfiguration())
    local = threading.local()

    def rest() -> RESTClient:
        found: RESTClient | None = getattr(local, "rest", None)
        if found is None:
            found = local.rest = rest_client(config, client, runtime)
        return found

    return rest


def paginate(rest: RESTClient, path: str, params: dict[str, Any] | None = None) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Yield (data, included) per page. `included` is why we page by hand: dlt's data selector keeps one path."""
    for page in rest.paginate(path, params=params or {}):
        body = page.response.json()
        data = body.get("data") or []
        yield (data if isinstance(data, list) else [data]), body.get("included") or []


def get_one(rest: RESTClient, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    for page in rest.paginate(path, params=params or {}, paginator=SinglePagePaginator()):
        return page.response.json()["data"]  # type: ignore[no-any-return]
    raise RuntimeError(f"klaviyo: no response for {path}")


def filter_after(field: str, value: Any, operator: str = "greater-than") -> str:
    """`greater-than(field,<datetime>)`: Klaviyo wants filter datetimes unquoted."""
    return f"{operator}({field},{_iso(value)})"


def filter_before(field: str, value: Any) -> str:
    """`less-than(field,<datetime>)`: the open end of a reload interval."""
    return filter_after(field, value, "less-than")


def all_of(*conditions: str) -> str:
    """One flat `and(...)` of the conditions (or the single condition): Klaviyo takes any number of arguments."""
    return conditions[0] if len(conditions) == 1 else f"and({','.join(conditions)})"


def _iso(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("+00:00", "Z")


def first_page(rest: RESTClient, path: str, params: dict[str, Any]) -> tuple[list[Any], bool]:
    """One page of `path`: its data, and whether `links.next` says more follow."""
    data, link = page_and_next(rest, path, params)
    return data, bool(link)


def page_and_next(rest: RESTClient, path_or_url: str, params: dict[str, Any] | None) -> tuple[list[Any], str | None]:
    """One page: its data (dicts, or `Event`s for an events page) and its `links.next` URL (None on the last page).
    `path_or_url` is a path with `params`, or the absolute next URL of an earlier page (its query is the cursor)."""
    for page in rest.paginate(path_or_url, params=params or {}, paginator=SinglePagePaginator(), data_selector=WHOLE_BODY):
        body = page.response.json()
        if isinstance(body, EventPage):
            return body.data, (body.links.next if body.links else None) or None
        data = body.get("data") or []
        return (data if isinstance(data, list) else [data]), (body.get("links") or {}).get("next") or None
    raise RuntimeError(f"klaviyo: no response for {path_or_url.split('?', 1)[0]}")


def split_span(lo: datetime, hi: datetime, parts: int) -> list[datetime]:
    """Boundaries `lo = b0 < b1 < ... < bk = hi` cutting `[lo, hi]` into up to `parts` equal spans, inner ones on
    whole seconds (Klaviyo's datetimes have whole seconds; a filter never needs a fraction)."""
    step = (hi - lo) / max(1, parts)
    inner = sorted({(lo + step * i).replace(microsecond=0) for i in range(1, max(1, parts))})
    return [lo, *(b for b in inner if lo < b < hi), hi]


def split_by_density(lo: datetime, hi: datetime, parts: int, density_lo: float, density_hi: float) -> list[datetime]:
    """Boundaries cutting `[lo, hi]` into up to `parts` spans holding about as many records each, the density (records
    per second) taken to change linearly from `density_lo` at `lo` to `density_hi` at `hi`; inner boundaries on whole
    seconds, as `split_span`. Equal parts of time when the densities are equal. Klaviyo's profiles and a list's members
    grow with the account, so the last part of equal time held most of them (one chain of 120 of 135 pages)."""
    if parts <= 1 or hi <= lo:
        return [lo, hi]
    span = hi - lo
    a, b = max(density_lo, 0.0), max(density_hi, 0.0)
    inner = set()
    for i in range(1, parts):
        q = i / parts
        # Share of the records before x (0..1 of the span): (a x + (b - a) x^2 / 2) / ((a + b) / 2) = q.
        if a + b <= 0 or abs(b - a) < 1e-9 * max(a, b):
            x = q
        else:
            half = (b - a) / 2
            x = (-a + math.sqrt(a * a + 4 * half * q * (a + b) / 2)) / (2 * half)
        inner.add((lo + span * min(1.0, max(0.0, x))).replace(microsecond=0))
    return [lo, *sorted(t for t in inner if lo < t < hi), hi]
