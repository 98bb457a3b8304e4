"""The one HTTP client layer every provider uses (directly, under dlt's `RESTClient`, or under an official SDK).

What each request gets, whoever sends it:

- **dlt's retrying semantics**, built from dlt's public pieces (`dlt.sources.helpers.requests`: its `Session` with a
  default timeout, `retry_if_status`, `wait_exponential_retry_after`, the default status codes and exceptions):
  429, 5xx, connection errors and timeouts are retried with exponential backoff, honouring `Retry-After`. We add
  jitter (many workers retrying in lock-step re-trip a limit together) and a redacted log line per retry.
- **One rate limiter**, `TokenBucket`, shared by every thread of the process, acquired before each attempt (so
  retries are paced too) and emptied by a 429. A provider with one documented limit gets one bucket; a provider
  with several (Klaviyo's per-endpoint tiers, each with a per-second and a per-minute window; Shopify's query-cost
  bucket) picks a bucket per request with `limiter_for`. `limit_within_windows` turns fixed windows into the
  fastest bucket that never exceeds any of them; `WindowLimiter` keeps each window's own count instead (a bucket
  inside both of Klaviyo's windows refills at the steady rate: 4 calls at 1/s and 15/min took 12 s, not 3).
  Hand-written because dlt has no client-side limiter and no well-kept library plugs under dlt's retry wrapper and
  an SDK at once.
- **Strict JSON**: a 2xx JSON response whose body does not parse is treated like a dropped connection (retried) and,
  if it persists, fails with `MalformedResponseError` naming the URL (no query string) and the byte offset. The body
  itself is never logged or put in an error: it is customer data.
- **Clear permanent errors**: a 401/403 raises `CredentialsRejected` at once (no retry), naming the provider's
  credential variables and Airflow Connection to fix.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

from dlt.common.json import json as fast_json
from dlt.sources.helpers.requests.retry import (
    DEFAULT_RETRY_EXCEPTIONS,
    DEFAULT_RETRY_STATUS,
    RetryPredicate,
    retry_if_predicate,
    retry_if_status,
    wait_exponential_retry_after,
)
from dlt.sources.helpers.requests.session import Session
from requests import HTTPError, PreparedRequest, RequestException, Response
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from tenacity import RetryCallState, Retrying, retry_any, retry_if_exception_type, stop_after_attempt

from .config import ProviderConfig, RateLimit, env_float
from .errors import CredentialsRejected, MalformedResponseError, safe_url
from .redaction import redact

log = logging.getLogger("opsdata.http")

DEFAULT_TIMEOUT_SECONDS = 30.0
TIMEOUT_ENV = "OPSDATA_HTTP_TIMEOUT_SECONDS"
"""Per-request timeout (connect and read) for every provider; the failure suite lowers it to test slow responses."""
CREDENTIAL_STATUSES = (401, 403)


class TokenBucket:
    """Thread-safe token bucket: `rate` tokens per second, at most `capacity` stored. The one limiter of the layer."""

    def __init__(self, rate: float, capacity: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until `tokens` are available (at most a full bucket is ever asked for); return the seconds waited."""
        tokens = min(tokens, self.capacity)
        waited = 0.0
        while True:
            with self._lock:
                self._refill(time.monotonic())
                if self._tokens >= tokens:
                    self._tokens -= tokens
                    return waited
                delay = (tokens - self._tokens) / self.rate
            time.sleep(delay)
            waited += delay

    def wait_time(self, tokens: float) -> float:
        """Seconds until `tokens` would be available, without taking them."""
        with self._lock:
            self._refill(time.monotonic())
            return max(0.0, (min(tokens, self.capacity) - self._tokens) / self.rate)

    def drain(self) -> None:
        """Empty the bucket, e.g. after the server said 429: the next requests wait for fresh tokens."""
        with self._lock:
            self._tokens = 0.0
            self._updated = time.monotonic()

    def sync(self, available: float, *, rate: float | None = None, capacity: float | None = None) -> None:
        """Adopt the server's own view of the bucket (e.g. Shopify's `throttleStatus` after every response)."""
        with self._lock:
            if rate:
                self.rate = rate
            if capacity:
                self.capacity = max(1.0, capacity)
            self._tokens = max(0.0, min(self.capacity, available))
            self._updated = time.monotonic()


class WindowLimiter:
    """Thread-safe limiter for fixed-window limits (Klaviyo's tiers: `n` per 1 s AND `m` per 60 s): never more than
    `n` requests in any `seconds` span, for every (n, seconds) window, however late or bunched they arrive, and no
    slower than the windows: a burst of `n` goes at once.

    A request is counted from when it is sent (`acquire`) to when its answer is back (`release`, which the session
    calls after every attempt): the provider counted it somewhere in between. A new one is sent only while fewer
    than `n` requests are in flight or were answered within the last `seconds`; then any `n + 1` requests are at
    least `seconds` apart where they arrived, wherever the provider's fixed windows start (it does not say), and no
    margin for network jitter or a paused thread is needed: a late request is answered late and counted so."""

    def __init__(self, windows: Sequence[tuple[int, float]]) -> None:
        if not windows or any(n < 1 or seconds <= 0 for n, seconds in windows):
            raise ValueError("each window needs at least one request and a positive length")
        self.windows = sorted(((int(n), float(seconds)) for n, seconds in windows), key=lambda w: w[1])
        self._answered: list[deque[float]] = [deque() for _ in self.windows]  # answer times within each window
        self._in_flight = 0
        self._held_until = float("-inf")
        self._changed = threading.Condition(threading.Lock())

    @property
    def in_flight(self) -> int:
        """Requests acquired and not yet released."""
        with self._changed:
            return self._in_flight

    def _wait(self, now: float) -> float | None:
        """Seconds until one more request keeps every window (0: now), or None until an answer comes back."""
        wait = max(0.0, self._held_until - now)
        for (n, seconds), answered in zip(self.windows, self._answered, strict=True):
            while answered and answered[0] + seconds <= now:  # the same sum as the wait below: no rounding between
                answered.popleft()
            excess = len(answered) + self._in_flight - n + 1  # requests that must leave the window first
            if excess > len(answered):
                return None
            if excess > 0:
                wait = max(wait, answered[excess - 1] + seconds - now)
        return wait

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until one more request keeps every window and count it as in flight; return the seconds waited. Each
        call must be followed by `release` once the request is answered or has failed."""
        waited = 0.0
        while True:
            with self._changed:
                now = time.monotonic()
                wait = self._wait(now)
                if wait is None:
                    self._changed.wait()
                    continue
                if wait <= 0:
                    self._in_flight += 1
                    return waited
            time.sleep(wait)
            waited += wait

    def release(self) -> None:
        """The request is answered (or failed): it counts in each window from now on, no longer as in flight."""
        with self._changed:
            now = time.monotonic()
            self._in_flight = max(0, self._in_flight - 1)
            for answered in self._answered:
                answered.append(now)
            self._changed.notify_all()

    def drain(self) -> None:
        """After a 429 the provider counted requests this client did not (another integration on the account):
        nothing new is sent for the shortest window from now. The refused request waits its Retry-After."""
        with self._changed:
            self._held_until = max(self._held_until, time.monotonic() + self.windows[0][1])


def limit_within_windows(
    windows: Sequence[tuple[float, float]], *, margin: float = 0.15, share: float = 0.95, scope: str = ""
) -> RateLimit:
    """The fastest token bucket that never sends more than `requests` in any `seconds` window, for every window.

    A bucket of capacity C refilled at r per second lets through at most C + r*T - 1 requests (rounded down) in a
    half-open window of T seconds, so it keeps `requests` per `seconds` if C <= requests + 1 - r*T. With C >= 1 that
    bounds r by requests / T for each window; we take `share` of the smallest bound, and the largest C allowed.
    `margin` widens each window (scaled with its length) for the spread of network latency: requests the client
    sends T apart may arrive closer together.
    """
    widened = [(float(n), t * (1 + margin)) for n, t in windows]
    rate = share * min(n / t for n, t in widened)
    capacity = min(n + 1 - rate * t for n, t in widened)
    return RateLimit(rate, max(1, int(capacity)), scope)


Limiter = TokenBucket | WindowLimiter
Limiters = Limiter | Sequence[Limiter] | None
"""What `limiter_for` returns: the bucket, or buckets, a request must get a token from (None: unlimited)."""

_limiters: dict[str, TokenBucket] = {}
_window_limiters: dict[str, WindowLimiter] = {}
_limiters_lock = threading.Lock()
request_counts: Counter[str] = Counter()
"""Requests answered per client key in this process (retries included); run summaries, benchmarks and tests read it.
An attempt that got no response (a dropped pooled connection, a timeout) is not counted: the provider may never have
seen it, and the count is compared with what the provider saw."""
_request_counts_lock = threading.Lock()  # `counter[k] += 1` is a read then a write: parallel extract threads lose counts


def shared_limiter(key: str, limit: RateLimit) -> TokenBucket:
    """One bucket per key for the whole process, so parallel threads share the provider's limit."""
    with _limiters_lock:
        bucket = _limiters.get(key)
        if bucket is None or bucket.rate != limit.per_second or bucket.capacity != max(1.0, limit.burst):
            bucket = _limiters[key] = TokenBucket(limit.per_second, limit.burst)
        return bucket


def shared_window_limiter(key: str, windows: Sequence[tuple[int, float]]) -> WindowLimiter:
    """One `WindowLimiter` per key for the whole process, as `shared_limiter`; a new one if the windows changed."""
    with _limiters_lock:
        limiter = _window_limiters.get(key)
        wanted = sorted(((int(n), float(seconds)) for n, seconds in windows), key=lambda w: w[1])
        if limiter is None or limiter.windows != wanted:
            limiter = _window_limiters[key] = WindowLimiter(windows)
        return limiter


def reset_limiters() -> None:
    """Forget every bucket (benchmarks start from full buckets, as a fresh worker process would)."""
    with _limiters_lock:
        _limiters.clear()
        _window_limiters.clear()


class wait_jittered_retry_after(wait_exponential_retry_after):
    """`Retry-After` when the server gives it, else exponential backoff; plus up to `jitter` seconds at random."""

    def __init__(self, jitter: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jitter = jitter

    def __call__(self, retry_state: RetryCallState) -> float:
        return super().__call__(retry_state) + random.uniform(0, self.jitter)


def _is_json(response: Response) -> bool:
    kind = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


Decoder = Callable[[bytes], Any]
"""Parses a JSON body; raises `ValueError` if it does not parse."""


def check_json(key: str, response: Response, decode: Decoder | None = None) -> None:
    """Raise `MalformedResponseError` when a 2xx JSON response does not parse (never quoting the body). `decode`
    replaces the generic parser for this response, e.g. a typed decoder that builds only the fields the caller reads
    (`ProviderClient(decoder_for=...)`); its result is what `response.json()` then gives."""
    if not (200 <= response.status_code < 300 and _is_json(response)):
        return
    body = response.content
    if not body:
        return
    try:
        parsed = (decode or fast_json.loadb)(body)  # dlt's JSON (orjson when installed): a few ms per MB
    except ValueError:
        try:  # the fast parser reports a character position; the standard parser's, turned into bytes, is exact
            json.loads(body.decode(response.encoding or "utf-8", errors="replace"))
            offset, reason = len(body), "unparsable"
        except json.JSONDecodeError as exc:
            offset, reason = len(exc.doc[: exc.pos].encode("utf-8")), exc.msg
        request = response.request
        raise MalformedResponseError(key, request.method or "GET", request.url or response.url, offset, len(body), reason) from None
    keep_parsed(response, parsed)


def keep_parsed(response: Response, parsed: Any) -> None:
    """Serve `parsed` to every `response.json()` without arguments. requests parses the body again on each call (with
    the standard parser, several times slower), and a page is asked several times: dlt's RESTClient selects the data
    and its paginator reads the next link, then the source reads the rest. For a page of 1,000 Klaviyo events (about
    1 MB) the second and third parse were the client's largest CPU cost. Callers get the same object: read it, don't
    mutate it in place. With arguments (`parse_float=...`), requests parses as it would."""
    parse = response.json

    def json(**kwargs: Any) -> Any:
        return parse(**kwargs) if kwargs else parsed

    response.json = json  # type: ignore[method-assign]


class ProviderClient:
    """Retrying, rate-limited, strict sessions for one provider (one session per thread, as dlt's own client).

    `limit` is the provider's budget (one shared bucket per `key`); `limiter_for(request)` picks the bucket(s) per
    request instead (Klaviyo's tiers; an endpoint limit on top of the account's: every bucket returned is acquired).
    `decoder_for(request)` may give the JSON decoder for that request's body (None: the generic one), e.g. a typed
    decoder for a provider's largest pages: one parse that skips what the source never reads.
    `on_send(request)` is told when the buckets let each attempt through; `on_response(response)` sees each response
    first, inside the retried attempt (to read quota headers, or to raise: what it raises is retried only if the layer
    retries that kind of error). `headers` and `auth` are set on every session. `reject_credentials=False` leaves
    401/403 to the caller (an OAuth token endpoint reports a revoked grant that way and says so better).
    """

    def __init__(
        self,
        key: str,
        limit: RateLimit | None,
        *,
        limiter_for: Callable[[PreparedRequest], Limiters] | None = None,
        on_send: Callable[[PreparedRequest], None] | None = None,
        on_response: Callable[[Response], None] | None = None,
        decoder_for: Callable[[PreparedRequest], Decoder | None] | None = None,
        request_timeout: float | None = None,
        request_max_attempts: int = 8,
        request_backoff_factor: float = 0.5,
        request_max_retry_delay: float = 60,
        jitter: float = 0.5,
        status_codes: Sequence[int] = DEFAULT_RETRY_STATUS,
        retry_condition: RetryPredicate | None = None,
        headers: dict[str, str] | None = None,
        auth: AuthBase | None = None,
        reject_credentials: bool = True,
        fix_hint: str = "",
    ) -> None:
        if os.environ.get("OPSDATA_FAST_RETRIES"):  # tests: same retry logic, shorter waits
            request_backoff_factor, request_max_retry_delay, jitter = 0.01, min(request_max_retry_delay, 3), 0.01
        self.key = key
        # The operator's setting wins over a provider's own default (e.g. Meta's 60 s for slow insights calls).
        self.timeout = env_float(TIMEOUT_ENV) or request_timeout or DEFAULT_TIMEOUT_SECONDS
        self.max_attempts = request_max_attempts
        self.headers = dict(headers or {})
        self.auth = auth
        self.reject_credentials = reject_credentials
        self.fix_hint = fix_hint
        default_bucket = shared_limiter(key, limit) if limit else None
        self.limiter_for = limiter_for or (lambda _request: default_bucket)
        self.on_send = on_send
        self.on_response = on_response
        self.decoder_for = decoder_for
        self.adapter = HTTPAdapter(pool_maxsize=50)
        conditions = [retry_if_status(status_codes), retry_if_exception_type((*DEFAULT_RETRY_EXCEPTIONS, MalformedResponseError))]
        if retry_condition is not None:
            conditions.append(retry_if_predicate(retry_condition))
        self.retrying = Retrying(
            wait=wait_jittered_retry_after(jitter=jitter, multiplier=request_backoff_factor, max=request_max_retry_delay),
            retry=retry_any(*conditions),
            stop=stop_after_attempt(request_max_attempts),
            reraise=True,
            before_sleep=self._log_retry,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        self._local = threading.local()

    @property
    def session(self) -> ProviderSession:
        session: ProviderSession | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = ProviderSession(self)
        return session

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.session.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.session.post(url, **kwargs)

    def rejected(self, response: Response) -> CredentialsRejected:
        request = response.request
        what = "rejected the credentials" if response.status_code == 401 else "refused the credentials (no permission)"
        hint = self.fix_hint or _how_to_configure(self.key)
        return CredentialsRejected(
            f"{self.key}: the API {what} (HTTP {response.status_code} for {request.method} {safe_url(request.url)}); "
            f"retrying will not help: {hint}",
            response.status_code,
        )

    def _log_retry(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        what = "?"
        url = ""
        if outcome is not None and outcome.failed:
            error = outcome.exception()
            what = type(error).__name__
            response = getattr(error, "response", None)
            if isinstance(error, MalformedResponseError):
                what, url = f"malformed JSON (byte {error.offset} of {error.size})", error.url
            elif isinstance(response, Response):
                what, url = f"HTTP {response.status_code}", safe_url(response.url)
            elif getattr(error, "request", None) is not None:
                url = safe_url(error.request.url)  # type: ignore[union-attr]
        elif outcome is not None:
            response = outcome.result()
            what, url = f"HTTP {getattr(response, 'status_code', '?')}", safe_url(getattr(response, "url", None))
        wait = retry_state.next_action.sleep if retry_state.next_action else 0
        log.warning(redact(
            f"{self.key}: retrying {url or 'a request'} after {what} "
            f"(attempt {retry_state.attempt_number} of {self.max_attempts}, waiting {wait:.2f}s)"
        ))


def _how_to_configure(key: str) -> str:
    """What the registry says to set for `key`'s secret credentials (e.g. "set STRIPE_API_KEY or the Airflow
    Connection 'stripe_default'"), or a generic hint for clients that are not a registry entry."""
    from pipelines.registry import UnknownProviderError, get_integration

    try:
        integration = get_integration(key)
    except UnknownProviderError:
        return "check the provider's credentials"
    secret = integration.secret_fields()
    required = [f for f in secret if f in integration.required_fields()]
    return integration.how_to_configure(required or secret)


class ProviderSession(Session):
    """dlt's `Session` (default timeout, no raise_for_status: `RESTClient` and SDKs check statuses themselves) whose
    `send` paces, retries, validates and classifies every request of its `ProviderClient`."""

    def __init__(self, client: ProviderClient) -> None:
        super().__init__(timeout=client.timeout, raise_for_status=False)
        self.client = client
        self.retrying = client.retrying.copy()  # tenacity keeps per-call statistics on the object: one per thread
        self.headers.update(client.headers)
        if client.auth is not None:
            self.auth = client.auth
        self.mount("http://", client.adapter)
        self.mount("https://", client.adapter)

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.retrying(self._attempt, request, **kwargs)  # type: ignore[no-any-return]
        except MalformedResponseError as exc:
            exc.args = (f"{exc} (the same after {self.client.max_attempts} attempts)",)
            raise
        except RequestException as exc:
            exc.attempts = self.retrying.statistics.get("attempt_number")  # type: ignore[attr-defined]  # for run.py's message
            raise

    def _attempt(self, request: PreparedRequest, **kwargs: Any) -> Response:
        client = self.client
        found = client.limiter_for(request)
        buckets = [] if found is None else [found] if isinstance(found, TokenBucket | WindowLimiter) else list(found)
        for bucket in buckets:
            bucket.acquire()
        if client.on_send is not None:
            client.on_send(request)
        try:
            response = super().send(request, **kwargs)
        except HTTPError as exc:  # raised by a response hook (dlt's RESTClient checks statuses in one)
            if exc.response is not None:
                self._count(client.key)
                self._classify(exc.response, buckets)
            raise
        finally:
            for bucket in buckets:
                if isinstance(bucket, WindowLimiter):  # it counts a request until its answer is back
                    bucket.release()
        self._count(client.key)
        self._classify(response, buckets)
        if not kwargs.get("stream"):
            check_json(client.key, response, client.decoder_for(request) if client.decoder_for else None)
        return response

    @staticmethod
    def _count(key: str) -> None:
        with _request_counts_lock:
            request_counts[key] += 1

    def _classify(self, response: Response, buckets: list[Limiter]) -> None:
        if self.client.on_response is not None:
            self.client.on_response(response)
        if response.status_code == 429:
            for bucket in buckets:
                bucket.drain()
        if response.status_code in CREDENTIAL_STATUSES and self.client.reject_credentials:
            raise self.client.rejected(response)


def client_for(config: ProviderConfig, **kwargs: Any) -> ProviderClient:
    return ProviderClient(config.name, config.rate_limit, **kwargs)
