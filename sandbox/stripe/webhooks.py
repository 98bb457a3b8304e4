"""Signed webhook delivery, as Stripe does it: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from . import render
from .world import StripeWorld


def signature_header(payload: bytes, secrets: str | list[str], timestamp: int | None = None) -> str:
    """One `v1` per secret: during a secret roll Stripe signs with the old and the new secret."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    parts = [f"t={t}"]
    for secret in [secrets] if isinstance(secrets, str) else secrets:
        parts.append("v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest())
    return ",".join(parts)


def event_payload(sw: StripeWorld, event_id: str) -> bytes:
    event = next(e for e in sw.events if e.id == event_id)
    return json.dumps(render.event(event, sw), indent=2).encode()


def deliver_events(
    sw: StripeWorld, url: str, secret: str, since: int | None = None, until: int | None = None, client: Any = None
) -> int:
    """POST every event created in (since, until] (default: up to now) to `url`; return how many were accepted."""
    until = sw.now if until is None else until
    since = sw.now - 86400 if since is None else since
    sent = 0
    own = client is None
    http = client or httpx.Client(timeout=10)
    try:
        for event in sw.events:
            if not since < event.created <= until:
                continue
            body = json.dumps(render.event(event, sw)).encode()
            response = http.post(
                url,
                content=body,
                headers={
                    "Stripe-Signature": signature_header(body, secret),
                    "Content-Type": "application/json; charset=utf-8",
                },
            )
            sent += response.status_code < 300
    finally:
        if own:
            http.close()
    return sent
