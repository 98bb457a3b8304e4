"""Zendesk HTTP client: auth (API token or OAuth), two rate limits, and the paginators of its three pagination styles.

dlt's `RESTClient` walks the pages; our shared `ProviderClient` session underneath retries 429/5xx (honouring
`Retry-After`) and throttles every request with the process-wide token buckets of `pipelines.common.http`:

- the account bucket (the plan's requests per minute) for every request;
- plus the incremental-export bucket (10 per minute, 30 with the High Volume add-on) for `/api/v2/incremental/`.

Zendesk counts both in fixed one-minute windows. A bucket refilling at 95 % of the limit with a burst of one never
puts more than the limit into any 60 s window, even when network latency bunches the arrivals a little. The quota is
the account's, shared with every other integration: `QuotaHold` reads the rate-limit headers of each response and,
when a window is used up, holds that scope's requests until the reset the headers give. A 429 still happens if
someone else spends the quota between our requests; dlt's retry then waits the `Retry-After`.

The paginators are hand-written because dlt's cursor paginators stop when the cursor is empty, and Zendesk's
exports always return a cursor: they must stop on `end_of_stream` (cursor and time-based exports) or
`meta.has_more` (cursor pagination of lists).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import PreparedRequest, Request, Response
from requests.auth import AuthBase, HTTPBasicAuth

from pipelines.common.config import ConfigurationError, ProviderConfig, RateLimit
from pipelines.common.http import ProviderClient, shared_limiter

from . import settings

log = logging.getLogger("opsdata.zendesk")


class ZendeskResponseError(RuntimeError):
    """A response we cannot use (a page that would loop, a body that is not an object)."""


def safe_url(url: str | None) -> str:
    """The URL without its query (cursors and times are not secret, but a query may carry anything)."""
    return (url or "?").split("?", 1)[0]


def check_response(response: Response) -> None:
    """The shared layer's `on_response`, inside the retried attempt: note the account's quota headers. (Bad
    credentials, malformed JSON and retries are the shared layer's.) Looked up per response, so tests can wrap it."""
    QUOTA.note(response)


def account_limit(config: ProviderConfig) -> RateLimit:
    """ZENDESK_RATE_LIMIT_PER_SECOND (the generic override) or the plan's documented limit, at HEADROOM."""
    import os

    if os.environ.get("ZENDESK_RATE_LIMIT_PER_SECOND"):
        return config.rate_limit
    per_minute = settings.account_limit_per_minute()
    return RateLimit(per_minute * settings.HEADROOM / 60, burst=10)


def export_limit() -> RateLimit:
    return RateLimit(settings.incremental_limit_per_minute() * settings.HEADROOM / 60, burst=1)


class QuotaHold:
    """What Zendesk's headers say of the quota we share with every other client of the account: when a response
    reports nothing left in the current window (`X-Rate-Limit-Remaining: 0`, or `remaining=0` in
    `zendesk-ratelimit-incremental-exports`), requests of that scope wait for the window's reset (`ratelimit-reset`,
    `resets=`) instead of spending a request on a 429. Process-wide, like the buckets."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.waited = 0.0

    def note(self, response: Response) -> None:
        headers = response.headers
        holds: list[tuple[str, float]] = []
        if headers.get("x-rate-limit-remaining") == "0" or headers.get("ratelimit-remaining") == "0":
            holds.append(("account", _seconds(headers.get("ratelimit-reset"))))
        exports = _parse_quota(headers.get("zendesk-ratelimit-incremental-exports"))
        if exports.get("remaining") == 0:
            holds.append(("incremental", float(exports.get("resets", 60))))
        with self._lock:
            for scope, seconds in holds:
                self._until[scope] = max(self._until.get(scope, 0.0), time.monotonic() + seconds)

    def wait(self, scopes: tuple[str, ...]) -> float:
        with self._lock:
            until = max(self._until.get(s, 0.0) for s in scopes)
        delay = until - time.monotonic()
        if delay <= 0:
            return 0.0
        log.info("zendesk: the account's quota is used up for this window; waiting %.1fs for the reset", delay)
        time.sleep(delay)
        with self._lock:
            self.waited += delay
        return delay


def _seconds(raw: str | None) -> float:
    try:
        return max(1.0, float(raw)) if raw else 60.0
    except ValueError:
        return 60.0


def _parse_quota(raw: str | None) -> dict[str, int]:
    """`total=10; remaining=9; resets=42` -> {"total": 10, "remaining": 9, "resets": 42}."""
    out: dict[str, int] = {}
    for part in (raw or "").split(";"):
        name, _, value = part.strip().partition("=")
        if value.strip().isdigit():
            out[name.strip()] = int(value)
    return out


QUOTA = QuotaHold()


class ZendeskClient(ProviderClient):
    """The shared client with Zendesk's auth, the account bucket (plus the export bucket for incremental exports)
    and the quota hold, checked last, right before the request leaves, so a hold noted while we waited for a token
    is honoured."""

    def __init__(self, config: ProviderConfig, auth: AuthBase) -> None:
        account = shared_limiter("zendesk", account_limit(config))
        exports = shared_limiter("zendesk:incremental", export_limit())

        def is_export(request: PreparedRequest) -> bool:
            return f"{settings.API}/incremental/" in (request.url or "")

        def hold_if_quota_spent(request: PreparedRequest) -> None:
            QUOTA.wait(("account", "incremental") if is_export(request) else ("account",))

        super().__init__(
            config.name, None,
            limiter_for=lambda request: (account, exports) if is_export(request) else account,
            on_send=hold_if_quota_spent,
            on_response=lambda response: check_response(response),
            headers={"Accept": "application/json"}, auth=auth, request_timeout=60,
            fix_hint="check ZENDESK_EMAIL + ZENDESK_API_TOKEN (or the OAuth client and refresh token) / the "
                     "'zendesk_default' connection, and that the user is an admin (the incremental exports are admin-only)",
        )


def auth_for(config: ProviderConfig) -> AuthBase:
    """API token when ZENDESK_EMAIL + ZENDESK_API_TOKEN are set, else OAuth (client + refresh token)."""
    creds = config.credentials
    mode = config.options.get("auth") or ("api_token" if creds.get("api_token") and creds.get("email") else "oauth")
    if mode == "api_token":
        return HTTPBasicAuth(f"{config.credential('email')}/token", config.credential("api_token"))
    if mode == "oauth":
        if not (creds.get("client_id") and creds.get("client_secret")):
            raise ConfigurationError(
                "zendesk: set ZENDESK_EMAIL + ZENDESK_API_TOKEN, or ZENDESK_OAUTH_CLIENT_ID + ZENDESK_OAUTH_CLIENT_SECRET "
                "(+ ZENDESK_OAUTH_REFRESH_TOKEN, or run `python -m pipelines.zendesk.oauth authorize` once)"
            )
        from .oauth import OAuthSession

        return OAuthSession(config).auth()
    raise ConfigurationError(f"zendesk: unknown auth mode {mode!r} (use 'api_token' or 'oauth')")


def rest_client(config: ProviderConfig, auth: AuthBase | None = None) -> RESTClient:
    client = ZendeskClient(config, auth or auth_for(config))
    # data_selector "$": each page is the whole body (records plus side-loads and cursors), parsed once.
    return RESTClient(base_url=config.base_url, session=client.session, data_selector="$")


def body_of(page: Any) -> dict[str, Any]:
    body = page[0] if page else {}
    if not isinstance(body, dict):
        raise ZendeskResponseError(f"zendesk: expected a JSON object, got {type(body).__name__}")
    return body


class CursorExportPaginator(BasePaginator):
    """Cursor-based incremental export: `start_time` on the first request (or a saved `cursor`), then
    `cursor=<after_cursor>`; stop only when `end_of_stream` is true (Zendesk's rule)."""

    def __init__(self, start_time: int | None, cursor: str | None) -> None:
        super().__init__()
        self.start_time, self.cursor = start_time, cursor

    def init_request(self, request: Request) -> None:
        request.params = {k: v for k, v in (request.params or {}).items() if k not in ("start_time", "cursor")}
        if self.cursor:
            request.params["cursor"] = self.cursor
        else:
            request.params["start_time"] = self.start_time

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        body = body_of(data)
        self.cursor = body.get("after_cursor")
        self._has_next_page = not body.get("end_of_stream", False)
        if self._has_next_page and not self.cursor:
            raise ZendeskResponseError(f"zendesk: {safe_url(response.url)} is not at end_of_stream but gave no after_cursor")

    def update_request(self, request: Request) -> None:
        request.params = {k: v for k, v in (request.params or {}).items() if k not in ("start_time", "cursor")}
        request.params["cursor"] = self.cursor


class TimeExportPaginator(BasePaginator):
    """Time-based incremental export: `start_time`, then the page's `end_time`, until `end_of_stream`.

    Items stamped exactly at `end_time` come again on the next page (Zendesk documents the duplicates; merge on id
    absorbs them). A full page whose `end_time` equals its `start_time` would repeat forever: fail instead."""

    def __init__(self, start_time: int) -> None:
        super().__init__()
        self.start_time = start_time
        self.end_time = start_time

    def init_request(self, request: Request) -> None:
        request.params = {**(request.params or {}), "start_time": self.start_time}

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        body = body_of(data)
        end_time = int(body.get("end_time") or self.end_time)
        self._has_next_page = not body.get("end_of_stream", False)
        if self._has_next_page and end_time <= self.end_time:
            raise ZendeskResponseError(
                f"zendesk: {safe_url(response.url)} returned a full page without moving past start_time={end_time}; "
                "more than one page of items share one second"
            )
        self.end_time = end_time

    def update_request(self, request: Request) -> None:
        request.params = {**(request.params or {}), "start_time": self.end_time}


class ListCursorPaginator(BasePaginator):
    """Cursor pagination of lists: `page[size]`, then `page[after]=<meta.after_cursor>` while `meta.has_more`."""

    def __init__(self, page_size: int = settings.LIST_PAGE_SIZE) -> None:
        super().__init__()
        self.page_size = page_size
        self.after: str | None = None

    def init_request(self, request: Request) -> None:
        request.params = {**(request.params or {}), "page[size]": self.page_size}

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        meta = body_of(data).get("meta") or {}
        self.after = meta.get("after_cursor")
        self._has_next_page = bool(meta.get("has_more")) and bool(self.after)

    def update_request(self, request: Request) -> None:
        request.params = {**(request.params or {}), "page[size]": self.page_size, "page[after]": self.after}


class SinglePage(BasePaginator):
    """Endpoints that answer everything at once (SLA policies, schedules, holidays)."""

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        self._has_next_page = False

    def update_request(self, request: Request) -> None:  # pragma: no cover - never called
        pass
