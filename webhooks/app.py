"""The webhook receiver app: `POST /webhooks/<provider>` for every registered provider.

Order of work per delivery: verify the signature over the raw body (else 400, nothing stored), identify the event
(else 400), commit it to the inbox (unique on provider + event id), then answer 200. A crash before the commit means
no 2xx, so the sender retries; a redelivery after the commit is a no-op that still answers 200.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from .inbox import Inbox
from .providers import Identified, InvalidDelivery, WebhookFollowUp, registered

log = logging.getLogger("opsdata.webhooks")
MAX_BODY_BYTES = 1_000_000


def provider_router(provider: Any, inbox: Inbox) -> APIRouter:
    router = APIRouter()

    @router.post(f"/{provider.name}")
    async def receive(request: Request, background: BackgroundTasks) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        try:
            provider.verify(request.headers, body)
            event = provider.identify(body)
        except InvalidDelivery as exc:
            log.warning("%s webhook rejected: %s", provider.name, exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        stored = inbox.add(provider.name, event.event_id, event.event_type, event.created, body.decode("utf-8"))
        if stored and isinstance(provider, WebhookFollowUp):
            background.add_task(_follow_up, provider, event, body)
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


def create_app(inbox_path: Path | str | None = None, providers: dict[str, Any] | None = None) -> FastAPI:
    inbox = Inbox(inbox_path)
    app = FastAPI(title="opsdata webhooks")
    app.state.inbox = inbox

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "inbox": str(inbox.path)}

    for provider in (providers or registered()).values():
        app.include_router(provider_router(provider, inbox), prefix="/webhooks")
    return app


def __getattr__(name: str) -> Any:
    # `uvicorn webhooks.app:app`: built on first access so importing this module has no side effects.
    if name == "app":
        return create_app()
    raise AttributeError(name)
