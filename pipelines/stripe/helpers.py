"""The Stripe client (official SDK over the shared HTTP layer) and list walking by `created` slices."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import stripe

from pipelines.common.config import ConfigurationError, ProviderConfig, RateLimit
from pipelines.common.errors import CredentialsRejected
from pipelines.common.http import ProviderClient

from . import settings

log = logging.getLogger("opsdata.stripe")
# The SDK logs every request URL at INFO; our client layer already logs retries (redacted). Keep its warnings only.
logging.getLogger("stripe").setLevel(logging.WARNING)


class SharedLayerHTTPClient(stripe.HTTPClient):
    """The SDK's pluggable HTTP client (`stripe.HTTPClient.request`), sending through our `ProviderClient` session.

    Why: the SDK retries only 409/5xx/`Stripe-Should-Retry: true` and never a plain 429, and it has no client-side
    rate limiter. The shared session retries 429/5xx/timeouts with backoff (and `Retry-After` when present), paces
    with the process-wide token bucket, rejects malformed JSON without quoting it, raises `CredentialsRejected` on
    401/403 and logs retries with secrets redacted. The SDK's own retries are turned off (`max_network_retries=0`)
    so one layer decides; its errors (`stripe.InvalidRequestError` for a 404, ...) still come from its own parser.
    """

    name = "opsdata-shared-layer"

    def __init__(self, provider_client: ProviderClient) -> None:
        super().__init__()
        self._provider = provider_client

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None) -> Any:
        response = self._provider.session.request(method, url, headers=headers, data=post_data)
        return response.content, response.status_code, response.headers

    def request_stream(self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None) -> Any:
        response = self._provider.session.request(method, url, headers=headers, data=post_data, stream=True)
        return response.raw, response.status_code, response.headers

    def close(self) -> None:
        pass  # sessions belong to the ProviderClient (one per thread) and live as long as it does


def effective_rate_limit(config: ProviderConfig, env_override: bool) -> RateLimit:
    """Test-mode keys get 25/s, live keys 100/s (documented), unless STRIPE_RATE_LIMIT_PER_SECOND says otherwise;
    the client aims at `RATE_LIMIT_HEADROOM` of it."""
    limit = config.rate_limit
    key = config.credentials.get("api_key", "")
    if not env_override and key.startswith(("sk_live_", "rk_live_")):
        limit = settings.LIVE_RATE_LIMIT
    return RateLimit(limit.per_second * settings.RATE_LIMIT_HEADROOM, limit.burst)


def make_client(config: ProviderConfig) -> stripe.StripeClient:
    import os

    api_key = config.credential("api_key")
    if not api_key.startswith(("sk_", "rk_")):
        raise ConfigurationError(
            "stripe: the API key is neither a secret (sk_...) nor a restricted (rk_...) key; "
            "set STRIPE_API_KEY or the Airflow Connection 'stripe_default' to one"
        )
    limit = effective_rate_limit(config, bool(os.environ.get("STRIPE_RATE_LIMIT_PER_SECOND")))
    provider_client = ProviderClient(config.name, limit, request_max_attempts=8, request_max_retry_delay=20)
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": config.base_url},
        http_client=SharedLayerHTTPClient(provider_client),
        max_network_retries=0,
    )


def get(client: stripe.StripeClient, url: str, params: dict[str, Any]) -> dict[str, Any]:
    """GET through the SDK (auth, pinned version, form encoding, Stripe's error classes) returning plain JSON.

    `raw_request` rather than the typed services: building StripeObjects for 100 nested invoices per page costs
    more client CPU than the request itself, and we store plain dicts anyway.
    """
    return client.raw_request("get", url, **params).data  # type: ignore[no-any-return]


def account_created(client: stripe.StripeClient) -> int | None:
    """When the Stripe account was created: no object can be older, so it bounds the first load's windows."""
    try:
        return int(client.v1.accounts.retrieve_current().created or 0) or None
    except (stripe.StripeError, CredentialsRejected) as exc:
        # A restricted key may not read the account (403): the windows are then open-ended. A rejected key (401)
        # fails the next request just the same, so only the 403 is forgiven here.
        if isinstance(exc, CredentialsRejected) and exc.status != 403:
            raise
        log.info(
            "stripe: account creation date unavailable (%s); first-load windows start open-ended", type(exc).__name__
        )
        return None


def walk_adaptive(
    client: stripe.StripeClient,
    path: str,
    params: dict[str, Any],
    created: dict[str, int],
    workers: int,
    floor: Callable[[], int | None] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Walk one list with up to `workers` windows in flight, splitting the `created` range as pages reveal density.

    Why by hand: Stripe lists are cursor-paged (one sequential chain per filter), so the only way to read faster than
    one page per round trip is several `created` windows at once; how to cut them is unknown until we see the data.
    Each task reads one page; if more remain, it estimates from that page's time span how many pages are left
    below it, hands the lower half of the remaining range to a new task and continues the upper half with
    `starting_after`. Windows never overlap, so no object is read twice; a small list costs exactly one request.

    Memory: at most `workers` pages are requested or waiting for the consumer at once (`in_flight`); a window asks
    for a slot before each request and the consumer frees it when it takes the page. Without that bound the
    windows outran dlt's extract whenever the API answered faster than dlt wrote (1 GB at the large world with no
    latency), and memory grew with the data instead of with the number of workers.

    `floor()`, when `created` has no lower bound, gives one (None: there is none) no object can be older than (the
    account's creation). It is called when the first page is back and its split needs it: that page, the newest
    objects, needs no bound, so it is not kept waiting for the answer. The objects listed are the same either way.
    """
    import queue

    results: queue.Queue[Any] = queue.Queue()
    in_flight = threading.Semaphore(workers)
    stopped = threading.Event()
    lo0 = created.get("gte")
    hi0 = created.get("lt")

    def slot() -> bool:
        """Wait for room for one more page; False once the consumer has gone (closed or failed)."""
        while not in_flight.acquire(timeout=0.5):
            if stopped.is_set():
                return False
        return not stopped.is_set()

    def task(lo: int | None, hi: int | None, after: str | None) -> None:
        try:
            while True:
                window = {k: v for k, v in (("gte", lo), ("lt", hi)) if v is not None}
                query: dict[str, Any] = {**params, "limit": settings.PAGE_SIZE}
                if window:
                    query["created"] = window
                if after:
                    query["starting_after"] = after
                if not slot():
                    return
                page = get(client, f"/v1/{path}", query)
                items = page["data"]
                if items:
                    results.put(items)  # its slot is freed when the consumer takes it
                else:
                    in_flight.release()
                if not page["has_more"] or not items:
                    return
                if lo is None and floor is not None:
                    lo = floor()
                newest, oldest = int(items[0]["created"]), int(items[-1]["created"])
                span = max(1, newest - oldest)
                pages_left = (oldest - lo) / span if lo is not None else settings.SPLIT_UNBOUNDED_PAGES
                if pages_left >= 2:
                    # Keep the top part (continued with starting_after), hand the rest out in equal parts.
                    parts = max(2, min(workers, int(pages_left // 2)))
                    bottom = lo if lo is not None else oldest - int(span * pages_left)
                    step = (oldest - bottom) // parts
                    if step > 0:
                        cuts = [bottom + i * step for i in range(parts)] + [oldest]
                        spawn(lo, cuts[1], None)  # the lowest part keeps the open lower bound, if any
                        for a, b in zip(cuts[1:-2], cuts[2:-1], strict=True):
                            spawn(a, b, None)
                        lo = cuts[-2]
                after = items[-1]["id"]
        except BaseException as exc:  # re-raised in the consumer thread
            results.put(exc)
        finally:
            results.put(_DONE)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"stripe-{path}")
    running = [0]

    def spawn(lo: int | None, hi: int | None, after: str | None) -> None:
        running[0] += 1
        pool.submit(task, lo, hi, after)

    try:
        spawn(lo0, hi0, None)
        while running[0]:
            item = results.get()
            if item is _DONE:
                running[0] -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                in_flight.release()
                yield item
    finally:
        stopped.set()
        pool.shutdown(wait=True, cancel_futures=True)


def walk_down(
    client: stripe.StripeClient, path: str, params: dict[str, Any], created: dict[str, int]
) -> Iterator[list[dict[str, Any]]]:
    """One list's pages newest first within `created`, one request at a time: the caller stops when it has enough.

    Used to re-list a range of older objects (see `source._relist`), where each page decides whether the next one
    is worth its request, so the pages cannot be fetched ahead in parallel.
    """
    after: str | None = None
    while True:
        query: dict[str, Any] = {**params, "limit": settings.PAGE_SIZE, "created": created}
        if after:
            query["starting_after"] = after
        page = get(client, f"/v1/{path}", query)
        items = page["data"]
        if items:
            yield items
        if not page["has_more"] or not items:
            return
        after = items[-1]["id"]


_DONE = object()


def retrieve_many(
    client: stripe.StripeClient, wanted: list[tuple[str, str]], workers: int
) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
    """Fetch the current state of each (path, id); None when Stripe says it no longer exists (deleted)."""

    def one(item: tuple[str, str]) -> tuple[str, str, dict[str, Any] | None]:
        path, object_id = item
        try:
            obj = get(client, f"/v1/{path}/{object_id}", settings.RETRIEVE_PARAMS.get(path, {}))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return path, object_id, None
            raise
        return path, object_id, obj

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stripe-retrieve") as pool:
        yield from pool.map(one, wanted)


def invoice_lines(client: stripe.StripeClient, invoice: dict[str, Any]) -> None:
    """Complete an invoice's embedded `lines` (Stripe embeds the first 10) in place."""
    lines = invoice.get("lines") or {}
    if not lines.get("has_more"):
        return
    data = list(lines.get("data") or [])
    while True:
        page = get(
            client,
            f"/v1/invoices/{invoice['id']}/lines",
            {"limit": settings.PAGE_SIZE, "starting_after": data[-1]["id"]},
        )
        data.extend(page["data"])
        if not page["has_more"]:
            break
    invoice["lines"] = {**lines, "data": data, "has_more": False}


def fetched_at() -> int:
    """Client-side fetch time in ms: dedup_sort picks the newest copy when a run sees an object twice."""
    return time.time_ns() // 1_000_000
