"""Klaviyo HTTP client: per-endpoint rate tiers, auth (private key or OAuth), JSON:API pagination.

dlt's `RESTClient` (what `rest_api` is built on) does the paging through `links.next`; our shared
`ProviderClient` session under it does the retries (429 + `Retry-After`, 5xx) and takes a limiter per request.
Klaviyo limits each operation separately in two fixed windows (burst per second, steady per minute), so a single
token bucket for the provider would either waste the XL tier or trip the S tier: `tier_limiter` keeps one
sliding-window limiter per tier.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator, SinglePagePaginator
from requests import PreparedRequest
from requests.auth import AuthBase

from pipelines.common.config import ConfigurationError, ProviderConfig
from pipelines.common.http import ProviderClient

from .settings import ENDPOINT_TIERS, PROFILE_COUNT_TIER, REVISION, TIERS, Tier

JSONAPI = "application/vnd.api+json"


class SlidingWindowLimiter:
    """At most `burst` requests in any 1 s and `steady` in any 60 s (hand-written: no installed library has
    two windows; pyrate-limiter is not a dependency). A sliding log is stricter than Klaviyo's fixed windows,
    so staying inside it never trips them, while still using close to the full allowance. The margin absorbs the
    spread of network latency (requests sent 1 s apart can arrive closer together)."""

    def __init__(self, burst: int, steady: int, margin: float = 0.15) -> None:
        self.burst, self.steady = max(1, burst), max(1, steady)
        self.margin = margin
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self, tokens: float = 1.0) -> float:
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                while self._sent and now - self._sent[0] > 60 + self.margin * 4:
                    self._sent.popleft()
                in_second = sum(1 for t in reversed(self._sent) if now - t < 1 + self.margin)
                delay = 0.0
                if len(self._sent) >= self.steady:
                    delay = self._sent[-self.steady] + 60 + self.margin * 4 - now
                if in_second >= self.burst:
                    delay = max(delay, self._sent[-self.burst] + 1 + self.margin - now)
                if delay <= 0:
                    self._sent.append(now)
                    return waited
            time.sleep(delay)
            waited += delay

    def drain(self) -> None:
        """After a 429 the server's window is full: count the next second as used."""
        with self._lock:
            now = time.monotonic()
            self._sent.extend([now] * self.burst)


_limiters: dict[tuple[str, float], SlidingWindowLimiter] = {}
_limiters_lock = threading.Lock()
tier_requests: Counter[str] = Counter()
"""Requests sent per tier (retries included) in this process; the benchmark reads it."""
endpoint_requests: Counter[str] = Counter()
"""Requests sent per endpoint template."""


def rate_scale() -> float:
    """KLAVIYO_RATE_LIMIT_SCALE multiplies every tier (tests run a sandbox whose limits are scaled alike)."""
    return float(os.environ.get("KLAVIYO_RATE_LIMIT_SCALE", "1"))


def tier_limiter(tier: Tier) -> SlidingWindowLimiter:
    scale = rate_scale()
    with _limiters_lock:
        key = (tier.name, scale)
        if key not in _limiters:
            _limiters[key] = SlidingWindowLimiter(int(tier.burst * scale), int(tier.steady * scale))
        return _limiters[key]


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


class _Logged:
    """The tier's limiter, noting when each request is let through."""

    def __init__(self, limiter: SlidingWindowLimiter, template: str, tier: str) -> None:
        self.limiter, self.template, self.tier = limiter, template, tier

    def acquire(self, tokens: float = 1.0) -> float:
        waited = self.limiter.acquire(tokens)
        sent_log.append((self.template, self.tier, time.time()))
        return waited

    def drain(self) -> None:
        self.limiter.drain()


def bucket_for(request: PreparedRequest) -> _Logged | None:
    url = request.url or ""
    path = url.split("?", 1)[0]
    found = endpoint_of(request.method or "GET", path)
    if found is None:
        return None
    template, tier_name = found
    if "profile_count" in url and template in ("/api/segments/{id}", "/api/lists/{id}"):
        tier_name = PROFILE_COUNT_TIER
    tier_requests[tier_name] += 1
    endpoint_requests[template] += 1
    return _Logged(tier_limiter(TIERS[tier_name]), template, tier_name)


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


class KlaviyoClient(ProviderClient):
    """The shared client with Klaviyo's auth on every session (dlt's sessions are per thread)."""

    def __init__(self, config: ProviderConfig, auth: AuthBase) -> None:
        self._auth = auth
        # bucket_for returns our two-window limiter: it has the token bucket's acquire()/drain() interface.
        super().__init__(config.name, None, bucket_for=bucket_for, headers={"revision": REVISION, "accept": JSONAPI})  # type: ignore[arg-type]

    def _make_session(self):  # type: ignore[no-untyped-def]
        session = super()._make_session()
        session.auth = self._auth
        return session


def make_client(config: ProviderConfig, auth: AuthBase | None = None) -> ProviderClient:
    return KlaviyoClient(config, auth or auth_for(config))


def rest_client(config: ProviderConfig, client: ProviderClient | None = None) -> RESTClient:
    client = client or make_client(config)
    return RESTClient(
        base_url=config.base_url,
        session=client.session,
        paginator=JSONLinkPaginator(next_url_path="links.next"),
        data_selector="data",
    )


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
