"""The shared HTTP client: dlt's retrying `requests` client plus what it lacks.

dlt's `Client` retries 429/5xx/connection errors and honours `Retry-After`, but it has no client-side rate limiter
and no jitter (many workers retrying in lock-step re-trip a limit together). Both are added here, by hand because no
well-kept library plugs into dlt's session: a token bucket shared by every thread of the process, applied in a
`requests` adapter underneath dlt's retry wrapper (so retries are throttled too), and a jittered wait.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.requests.retry import (
    DEFAULT_RETRY_EXCEPTIONS,
    DEFAULT_RETRY_STATUS,
    retry_if_predicate,
    retry_if_status,
    wait_exponential_retry_after,
)
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_any, retry_if_exception_type, stop_after_attempt

from .config import ProviderConfig, RateLimit
from .redaction import redact

log = logging.getLogger("opsdata.http")


class TokenBucket:
    """Thread-safe token bucket: `rate` tokens per second, at most `capacity` stored."""

    def __init__(self, rate: float, capacity: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until `tokens` are available; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= tokens:
                    self._tokens -= tokens
                    return waited
                delay = (tokens - self._tokens) / self.rate
            time.sleep(delay)
            waited += delay

    def drain(self) -> None:
        """Empty the bucket, e.g. after the server said 429: the next requests wait for fresh tokens."""
        with self._lock:
            self._tokens = 0.0
            self._updated = time.monotonic()


_limiters: dict[str, TokenBucket] = {}
_limiters_lock = threading.Lock()
request_counts: Counter[str] = Counter()
"""Requests sent per limiter key in this process (retries included); benchmarks and tests read it."""


def shared_limiter(key: str, limit: RateLimit) -> TokenBucket:
    """One bucket per key for the whole process, so parallel threads share the provider's limit."""
    with _limiters_lock:
        bucket = _limiters.get(key)
        if bucket is None or bucket.rate != limit.per_second or bucket.capacity != max(1.0, limit.burst):
            bucket = _limiters[key] = TokenBucket(limit.per_second, limit.burst)
        return bucket


class RateLimitedAdapter(HTTPAdapter):
    def __init__(self, bucket_for: Callable[[PreparedRequest], TokenBucket | None], key: str, **kwargs: Any):
        super().__init__(**kwargs)
        self._bucket_for = bucket_for
        self._key = key

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        bucket = self._bucket_for(request)
        if bucket is not None:
            bucket.acquire()
        request_counts[self._key] += 1
        response = super().send(request, *args, **kwargs)
        if response.status_code == 429 and bucket is not None:
            bucket.drain()
        return response


class wait_jittered_retry_after(wait_exponential_retry_after):
    """`Retry-After` when the server gives it, else exponential backoff; plus up to `jitter` seconds at random."""

    def __init__(self, jitter: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jitter = jitter

    def __call__(self, retry_state: RetryCallState) -> float:
        return super().__call__(retry_state) + random.uniform(0, self.jitter)


def _log_retry(retry_state: RetryCallState) -> None:
    outcome = retry_state.outcome
    what: str
    if outcome is not None and outcome.failed:
        what = type(outcome.exception()).__name__
    else:
        response = outcome.result() if outcome is not None else None
        what = f"HTTP {getattr(response, 'status_code', '?')}"
    wait = retry_state.next_action.sleep if retry_state.next_action else 0
    log.warning(redact(f"retrying after {what} (attempt {retry_state.attempt_number}, waiting {wait:.2f}s)"))


class ProviderClient(Client):
    """dlt's retrying client with a shared rate limiter, jitter and retry logging, for one provider."""

    def __init__(
        self,
        key: str,
        limit: RateLimit | None,
        *,
        bucket_for: Callable[[PreparedRequest], TokenBucket | None] | None = None,
        request_timeout: float = 30,
        request_max_attempts: int = 8,
        request_backoff_factor: float = 0.5,
        request_max_retry_delay: float = 60,
        jitter: float = 0.5,
        status_codes: Sequence[int] = DEFAULT_RETRY_STATUS,
        retry_condition: Any = None,
        headers: dict[str, str] | None = None,
        raise_for_status: bool = False,
    ) -> None:
        if os.environ.get("OPSDATA_FAST_RETRIES"):  # tests: same retry logic, shorter waits
            request_backoff_factor, request_max_retry_delay, jitter = 0.01, min(request_max_retry_delay, 3), 0.01
        super().__init__(
            request_timeout=request_timeout,
            raise_for_status=raise_for_status,
            status_codes=status_codes,
            request_max_attempts=request_max_attempts,
            retry_condition=retry_condition,
            request_backoff_factor=request_backoff_factor,
            request_max_retry_delay=request_max_retry_delay,
        )
        self._headers = dict(headers or {})
        default_bucket = shared_limiter(key, limit) if limit else None
        self._adapter = RateLimitedAdapter(bucket_for or (lambda _request: default_bucket), key, pool_maxsize=50)
        self._jitter = jitter
        self.key = key

    def _make_session(self):  # type: ignore[no-untyped-def]
        session = super()._make_session()
        session.headers.update(self._headers)
        kw = self._retry_kwargs
        conditions = [retry_if_status(kw["status_codes"]), retry_if_exception_type(tuple(DEFAULT_RETRY_EXCEPTIONS))]
        condition = kw["condition"]
        if condition is not None:
            conditions.extend(retry_if_predicate(c) for c in (condition if isinstance(condition, list) else [condition]))
        retrying = Retrying(
            wait=wait_jittered_retry_after(jitter=self._jitter, multiplier=kw["backoff_factor"], max=kw["max_delay"]),
            retry=retry_any(*conditions),
            stop=stop_after_attempt(kw["max_attempts"]),
            reraise=True,
            before_sleep=_log_retry,
            retry_error_callback=lambda state: state.outcome.result(),
        )
        # dlt wrapped `send` already; re-wrap the unwrapped method with our jittered, logging policy.
        session.send = retrying.wraps(type(session).send.__get__(session))  # type: ignore[method-assign]
        return session


def client_for(config: ProviderConfig, **kwargs: Any) -> ProviderClient:
    return ProviderClient(config.name, config.rate_limit, **kwargs)
