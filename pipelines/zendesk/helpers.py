"""Zendesk HTTP client: auth (API token or OAuth), two rate limits, and the paginators of its three pagination styles.

dlt's `RESTClient` walks the pages; our shared `ProviderClient` session underneath retries 429/5xx (honouring
`Retry-After`). Zendesk counts two quotas in fixed one-minute windows and reports both in every response:

- the account's (the plan's requests per minute): `X-Rate-Limit-Remaining` / `ratelimit-remaining` and, on Ticketing
  API responses, `ratelimit-reset` (seconds to the window's reset);
- the incremental exports' (10 per minute, 30 with the High Volume add-on) on `/api/v2/incremental/`:
  `zendesk-ratelimit-incremental-exports: total=10; remaining=9; resets=42`;
- except the cursor-based user export, which has a limit of its own instead (20 per minute, 60 with the add-on):
  `zendesk-ratelimit-incremental-exports-cursor: total=20; remaining=19; resets=42`.

The quota is the account's, shared with every other integration, so the client paces by what the server says, not by
a rate of its own: `WindowQuota` lets requests through while the current window has quota left (never more in flight
than is left), then waits for the reset. A 429 can still happen if someone else spends the quota between our
requests; the retry then waits the `Retry-After`.

The paginators are hand-written because dlt's cursor paginators stop when the cursor is empty, and Zendesk's
exports always return a cursor: they must stop on `end_of_stream` (cursor and time-based exports) or
`meta.has_more` (cursor pagination of lists).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import PreparedRequest, Request, Response
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth

from pipelines.common.config import ConfigurationError, ProviderConfig
from pipelines.common.http import ProviderClient, shared_limiter

from . import settings

log = logging.getLogger("opsdata.zendesk")


class ZendeskResponseError(RuntimeError):
    """A response we cannot use (a page that would loop, a body that is not an object)."""


def safe_url(url: str | None) -> str:
    """The URL without its query (cursors and times are not secret, but a query may carry anything)."""
    return (url or "?").split("?", 1)[0]


def check_response(response: Response) -> None:
    """The shared layer's `on_response`, inside the retried attempt, after the quotas have read the response's
    headers. (Bad credentials, malformed JSON and retries are the shared layer's.) Nothing to check beyond them today;
    looked up per response so tests and the benchmark can observe every response."""


Quota = tuple[int, float | None]
"""What a response says of one quota: requests left in the current window, and seconds until it resets (if given)."""


class WindowQuota:
    """One of Zendesk's fixed-window quotas, as the server reports it, shared by every thread of the process.

    - Nothing known (the first request of a process, or the known window has ended): one request at a time, until a
      response says how much of the window is left. Another process may have spent part of it; a burst on the
      assumption of a full window would earn 429s.
    - Known: at most `remaining - in flight` more requests, where `remaining` is the lowest count the server reported
      in this window (parallel requests' responses arrive out of order; the lowest is the latest count) and every
      request still in flight is taken as not yet counted in it.
    - None left: wait until the reset the server gave (whole seconds) plus `margin` for its rounding, then as above.
    - A count of quota left is trusted for `trust_seconds` after the last response: after a pause (another run, or a
      quiet spell of this one) someone else may have spent it, so the next request goes alone again. A count of none
      left holds until the reset.

    `clock` and `sleep` are injectable, so tests drive the windows without waiting."""

    def __init__(
        self,
        name: str,
        read: Callable[[Mapping[str, str]], Quota | None],
        *,
        window_seconds: float = 60.0,
        margin: float = 1.0,
        trust_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name, self._read = name, read
        self.window_seconds, self.margin, self.trust_seconds = window_seconds, margin, trust_seconds
        self._clock, self._sleep = clock, sleep
        self._cond = threading.Condition()
        self._ends_at: float | None = None  # when the known window ends, at the latest (our clock); None: unknown
        self._remaining = 0
        self._read_at = 0.0
        self.in_flight = 0
        self.waited = 0.0
        self.reset_waits = 0
        """How often a request waited for a window's reset (the benchmark and tests read it)."""

    def delay(self) -> float | None:
        """0: a request may go now; None: it waits for a response in flight; else the seconds until the reset."""
        with self._cond:
            return self._delay(self._clock())

    def _delay(self, now: float) -> float | None:
        stale = self._remaining > 0 and self.in_flight == 0 and now - self._read_at > self.trust_seconds
        if self._ends_at is not None and (now >= self._ends_at or stale):
            self._ends_at = None
        if self._ends_at is None:
            return 0.0 if self.in_flight == 0 else None
        if self._remaining - self.in_flight > 0:
            return 0.0
        return None if self.in_flight else self._ends_at - now

    def acquire(self) -> float:
        """Block until a request may be sent (it is then counted in flight until `settle`); the seconds waited."""
        started = self._clock()
        with self._cond:
            while True:
                delay = self._delay(self._clock())
                if delay == 0.0:
                    self.in_flight += 1
                    waited = self._clock() - started
                    self.waited += waited
                    return waited
                if delay is None:
                    self._cond.wait()  # settle() notifies
                    continue
                log.info("zendesk: the %s quota is used up for this window; waiting %.1fs for its reset", self.name, delay)
                self.reset_waits += 1
                self._cond.release()
                try:
                    self._sleep(delay)
                finally:
                    self._cond.acquire()

    def settle(self, headers: Mapping[str, str] | None) -> None:
        """A request sent after `acquire` has its response's headers (None: it failed without a response)."""
        with self._cond:
            self.in_flight -= 1
            found = self._read(headers) if headers is not None else None
            if found is None:
                # Counted by the server, perhaps, but not reported: count it against what we know.
                self._remaining -= 1
            else:
                remaining, resets = found
                self._read_at = self._clock()
                ends_at = self._read_at + (self.window_seconds if resets is None else resets) + self.margin
                if resets is None and self._ends_at is not None:
                    self._remaining = min(self._remaining, remaining)  # without a reset it cannot tell a new window
                elif self._ends_at is None or ends_at > self._ends_at + self.window_seconds / 2:
                    self._ends_at, self._remaining = ends_at, remaining  # a new window
                elif ends_at >= self._ends_at - self.window_seconds / 2:  # this window (else an earlier one's, late)
                    self._ends_at, self._remaining = min(self._ends_at, ends_at), min(self._remaining, remaining)
            self._cond.notify_all()

    def forget(self) -> None:
        """Know nothing of the window, as a new process (tests; the benchmark's runs are new processes anyway)."""
        with self._cond:
            self._ends_at, self._remaining = None, 0


def _int(raw: str | None) -> int | None:
    try:
        return int(float(raw)) if raw is not None and raw.strip() else None
    except ValueError:
        return None


def read_account_quota(headers: Mapping[str, str]) -> Quota | None:
    """`X-Rate-Limit-Remaining` (every response) or `ratelimit-remaining`; `ratelimit-reset` (Ticketing APIs)."""
    remaining = _int(headers.get("x-rate-limit-remaining"))
    if remaining is None:
        remaining = _int(headers.get("ratelimit-remaining"))
    if remaining is None:
        return None
    reset = _int(headers.get("ratelimit-reset")) or _int(headers.get("retry-after"))
    return remaining, None if reset is None else float(reset)


def endpoint_quota_reader(header: str) -> Callable[[Mapping[str, str]], Quota | None]:
    """The reader of one of Zendesk's per-endpoint quota headers, `<header>: total=10; remaining=9; resets=42`."""

    def read(headers: Mapping[str, str]) -> Quota | None:
        quota = _parse_quota(headers.get(header))
        if "remaining" not in quota:
            return None
        resets = quota.get("resets", _int(headers.get("retry-after")))
        return quota["remaining"], None if resets is None else float(resets)

    return read


read_export_quota = endpoint_quota_reader("zendesk-ratelimit-incremental-exports")
read_users_cursor_quota = endpoint_quota_reader("zendesk-ratelimit-incremental-exports-cursor")


def _parse_quota(raw: str | None) -> dict[str, int]:
    """`total=10; remaining=9; resets=42` -> {"total": 10, "remaining": 9, "resets": 42}."""
    out: dict[str, int] = {}
    for part in (raw or "").split(";"):
        name, _, value = part.strip().partition("=")
        if value.strip().isdigit():
            out[name.strip()] = int(value)
    return out


_QUOTA_READERS = {"account": read_account_quota, "incremental": read_export_quota, "users_cursor": read_users_cursor_quota}
USERS_CURSOR_PATH = f"{settings.API}/incremental/users/cursor"
"""The cursor-based user export: counted in its own quota, not the other exports' (settings)."""
_quotas: dict[tuple[str, str], WindowQuota] = {}
_quotas_lock = threading.Lock()


def quota(host: str, scope: str) -> WindowQuota:
    """The `scope` quota ("account", "incremental" or "users_cursor") of the account at `host`: process-wide, like the shared layer's
    buckets, so every client and thread of the process spends the same one."""
    with _quotas_lock:
        found = _quotas.get((host, scope))
        if found is None:
            found = _quotas[(host, scope)] = WindowQuota(f"{scope} ({host})", _QUOTA_READERS[scope])
        return found


def forget_quotas() -> None:
    with _quotas_lock:
        for found in _quotas.values():
            found.forget()


def quotas_for(request: PreparedRequest) -> list[WindowQuota]:
    """The exports' quota first, then the account's: a request holding the account's only slot (while nothing is
    known of its window) must not sit waiting for the exports' reset and stall every other request."""
    parts = urlsplit(request.url or "")
    if parts.path.endswith((USERS_CURSOR_PATH, f"{USERS_CURSOR_PATH}.json")):
        return [quota(parts.netloc, "users_cursor"), quota(parts.netloc, "account")]
    if f"{settings.API}/incremental/" in parts.path:
        return [quota(parts.netloc, "incremental"), quota(parts.netloc, "account")]
    return [quota(parts.netloc, "account")]


class QuotaAdapter(HTTPAdapter):
    """Every attempt waits for its quotas right before it leaves and settles them as soon as the response's headers are
    in (or it failed), so what is in flight is always known, whatever the retrying layer above does."""

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        quotas = quotas_for(request)
        taken: list[WindowQuota] = []
        try:
            for quota in quotas:
                quota.acquire()
                taken.append(quota)
            response = super().send(request, *args, **kwargs)
        except BaseException:
            for quota in taken:
                quota.settle(None)
            raise
        for quota in taken:
            quota.settle(response.headers)
        return response


class ZendeskClient(ProviderClient):
    """The shared client with Zendesk's auth and the account's and the exports' window quotas (`QuotaAdapter`)."""

    def __init__(self, config: ProviderConfig, auth: AuthBase) -> None:
        # ZENDESK_RATE_LIMIT_PER_SECOND (the generic override) adds a bucket of the operator's own on top.
        bucket = shared_limiter("zendesk", config.rate_limit) if os.environ.get("ZENDESK_RATE_LIMIT_PER_SECOND") else None
        super().__init__(
            config.name, None,
            limiter_for=lambda _request: bucket,
            on_response=lambda response: check_response(response),
            headers={"Accept": "application/json"}, auth=auth, request_timeout=60,
            fix_hint="check ZENDESK_EMAIL + ZENDESK_API_TOKEN (or the OAuth client and refresh token) / the "
                     "'zendesk_default' connection, and that the user is an admin (the incremental exports are admin-only)",
        )
        self.adapter = QuotaAdapter(pool_maxsize=50)  # mounted by each thread's session, made on first use


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
