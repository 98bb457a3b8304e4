"""The webhook receiver app: `POST /webhooks/<provider>` for every registered provider.

Order of work per delivery: check the provider is configured (else 503 naming what to set, nothing read), reject a
declared `Content-Length` over the cap (413, nothing read), wait for one of the few body slots (else 503 with
`Retry-After`), read the body as a stream and stop past the cap (413) or past the read deadline (408), verify the
signature over the raw body (else 400, nothing stored), identify the event (else 400), commit it to the inbox (unique
on provider + event id), then answer 200. A crash before the commit means no 2xx, so the sender retries; a redelivery
after the commit is a no-op that still answers 200.

The endpoint is public and unauthenticated until the signature is checked, so what an anonymous sender can cost is
bounded: at most `max_concurrent_bodies` bodies of at most `MAX_BODY_BYTES` are in memory at once (uvicorn stops
reading a socket whose body nobody asks for), however many requests arrive.

`GET /health` answers 503 while a provider cannot verify deliveries (no signing secret), naming the variable. Served
standalone (`uvicorn webhooks.app:app`) the receiver refuses to start in that state; inside Airflow it stays up
(refusing would take the API server down with it) and that provider's route answers 503 until it is configured.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from .inbox import Inbox
from .providers import Identified, InvalidDelivery, WebhookFollowUp, registered

log = logging.getLogger("opsdata.webhooks")
MAX_BODY_BYTES = 1_000_000
"""Stripe's events are a few kB; its documented maximum payload is far below this."""
MAX_CONCURRENT_BODIES = 4
SLOT_WAIT_SECONDS = 5.0
BODY_READ_SECONDS = 10.0
BUSY_RETRY_AFTER_SECONDS = 5


class BodyTooLarge(Exception):
    pass


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, read chunk by chunk; raises BodyTooLarge as soon as it passes `limit` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def missing_configuration(providers: dict[str, Any]) -> dict[str, str]:
    """Provider name -> what to set, for every provider that cannot verify deliveries now."""
    return {name: missing for name, provider in providers.items() if (missing := provider.missing_configuration())}


def provider_router(provider: Any, inbox: Inbox, slots: asyncio.Semaphore, *, slot_wait: float, body_read: float) -> APIRouter:
    router = APIRouter()

    @router.post(f"/{provider.name}")
    async def receive(request: Request, background: BackgroundTasks) -> JSONResponse:
        missing = provider.missing_configuration()
        if missing:
            return JSONResponse({"error": f"{provider.name} webhooks are not configured: {missing}"}, status_code=503)
        declared = declared_length(request)
        if declared is not None and declared > MAX_BODY_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        try:
            async with asyncio.timeout(slot_wait):  # not wait_for: on 3.11 it can lose a permit it acquired as it timed out
                await slots.acquire()
        except TimeoutError:
            log.warning("%s webhook refused: every body slot stayed busy for %.0f s", provider.name, slot_wait)
            return JSONResponse({"error": "busy, retry later"}, status_code=503,
                                headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)})
        try:
            async with asyncio.timeout(body_read):  # a sender trickling its body cannot hold a slot for long
                body = await read_capped(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        except TimeoutError:
            return JSONResponse({"error": "body not received in time"}, status_code=408)
        finally:
            slots.release()
        try:
            provider.verify(request.headers, body)
            event = provider.identify(body)
        except InvalidDelivery as exc:
            log.warning("%s webhook rejected: %s", provider.name, exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        # SQLite may wait for another writer (busy timeout): not on the event loop.
        stored = await run_in_threadpool(
            inbox.add, provider.name, event.event_id, event.event_type, event.created, body.decode("utf-8")
        )
        if stored and isinstance(provider, WebhookFollowUp):
            background.add_task(_follow_up, provider, event, body)  # after the 2xx (sync: run in the thread pool)
        return JSONResponse({"received": True, "duplicate": not stored, "id": event.event_id})

    if hasattr(provider, "challenge"):
        # Subscription handshakes (Meta's `hub.challenge`): echo the challenge when the verify token matches, else 403.
        @router.get(f"/{provider.name}")
        async def verify_subscription(request: Request) -> PlainTextResponse:
            try:
                return PlainTextResponse(provider.challenge(dict(request.query_params)))
            except InvalidDelivery as exc:
                log.warning("%s webhook verification rejected: %s", provider.name, exc)
                return PlainTextResponse("verification failed", status_code=403)

    return router


def _follow_up(provider: WebhookFollowUp, event: Identified, body: bytes) -> None:
    try:
        provider.after_store(event, body)
    except Exception as exc:  # the event is stored; the provider's next extraction catches up
        log.warning("webhook follow-up for event %s failed: %s", event.event_id, type(exc).__name__)


def create_app(
    inbox_path: Path | str | None = None,
    providers: dict[str, Any] | None = None,
    *,
    require_configuration: bool = False,
    max_concurrent_bodies: int = MAX_CONCURRENT_BODIES,
    slot_wait_seconds: float = SLOT_WAIT_SECONDS,
    body_read_seconds: float = BODY_READ_SECONDS,
) -> FastAPI:
    """The receiver. `require_configuration`: raise (refuse to start) if a provider has no signing secret; otherwise
    log it, report it on `/health` and answer that provider's deliveries with 503 until it is configured."""
    providers = providers if providers is not None else registered()
    missing = missing_configuration(providers)
    if missing:
        problems = "; ".join(f"{name}: {what}" for name, what in missing.items())
        if require_configuration:
            raise RuntimeError(f"webhooks: refusing to start, {problems}")
        log.error("webhooks: %s (its deliveries get 503 until then)", problems)
    inbox = Inbox(inbox_path)
    slots = asyncio.Semaphore(max_concurrent_bodies)
    app = FastAPI(title="opsdata webhooks")
    app.state.inbox = inbox

    @app.get("/health")
    def health() -> JSONResponse:
        now_missing = missing_configuration(providers)
        report = {name: {"ok": name not in now_missing, **({"missing": now_missing[name]} if name in now_missing else {})}
                  for name in providers}
        return JSONResponse({"ok": not now_missing, "inbox": str(inbox.path), "providers": report},
                            status_code=503 if now_missing else 200)

    for provider in providers.values():
        app.include_router(provider_router(provider, inbox, slots, slot_wait=slot_wait_seconds, body_read=body_read_seconds),
                           prefix="/webhooks")
    return app


def __getattr__(name: str) -> Any:
    # `uvicorn webhooks.app:app`: built on first access so importing this module has no side effects; standalone, a
    # receiver that cannot verify deliveries refuses to start rather than answer every sender with an error.
    if name == "app":
        return create_app(require_configuration=True)
    raise AttributeError(name)
