"""Signed webhook delivery, as Zendesk does it.

Zendesk signs each request with the webhook's signing secret: `X-Zendesk-Webhook-Signature` =
base64(HMAC-SHA256(secret, timestamp + raw body)) and `X-Zendesk-Webhook-Signature-Timestamp` = the timestamp
that was signed (https://developer.zendesk.com/documentation/webhooks/verifying/). Payloads are the event-subscription
ticket events (`zen:event-type:ticket.*`, https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/),
one per change in a ticket's audit: created, status changed, priority changed, comment added, marked as spam,
soft deleted, merged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from . import render
from .world import ACCOUNT_ID, Ticket, Update, ZendeskWorld

EVENT_VERSION = "2022-11-06"


def signature(body: bytes, secret: str, timestamp: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()).decode()


def signed_headers(body: bytes, secret: str, at: datetime | None = None) -> dict[str, str]:
    timestamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": signature(body, secret, timestamp),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "X-Zendesk-Webhook-Id": "01HZNW3BHOOKSANDBOX0000001",
    }


def _events_of(zw: ZendeskWorld, t: Ticket, u: Update) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    first = u is t.updates[0]
    if first:
        out.append(("ticket.created", {"meta": {"sequence": {"id": str(u.id), "position": 1, "total": 1}}}))
    status = u.changes.get("status")
    if status and not first:
        old, new = status
        if new == "deleted":
            out.append(("ticket.marked_as_spam" if t.fate == "spam" else "ticket.soft_deleted", {}))
        elif u.via == "merge":
            out.append(("ticket.merged", {"target_ticket_id": str(t.merged_into)}))
        else:
            out.append(("ticket.status_changed", {"current": str(new).upper(), "previous": str(old).upper()}))
    priority = u.changes.get("priority")
    if priority and not first:
        out.append(("ticket.priority_changed", {"current": str(priority[1]).upper(), "previous": str(priority[0]).upper()}))
    if u.comment is not None and not first:
        c = u.comment
        out.append(("ticket.comment_added", {"comment": {"id": str(c.id), "is_public": c.public, "author": {"id": str(c.author_id),
                                                          "is_staff": c.by_agent}, "body": c.body}}))
    return out


def event_payloads(zw: ZendeskWorld, since: datetime, until: datetime) -> list[bytes]:
    """Every ticket event stamped in (since, until], oldest first, as Zendesk would POST them."""
    found: list[tuple[datetime, int, bytes]] = []
    for t in zw.tickets:
        for u in t.updates:
            if not since < u.at <= until:
                continue
            for n, (kind, event) in enumerate(_events_of(zw, t, u)):
                payload = {
                    "account_id": ACCOUNT_ID,
                    "detail": render.webhook_ticket_detail(zw, t, u.at),
                    "event": event,
                    "id": str(uuid.UUID(int=(u.id << 8) + n)),
                    "subject": f"zen:ticket:{t.id}",
                    "time": render.iso(u.at),
                    "type": f"zen:event-type:{kind}",
                    "zendesk_event_version": EVENT_VERSION,
                }
                found.append((u.at, n, json.dumps(payload).encode()))
    found.sort(key=lambda f: (f[0], f[1]))
    return [body for _, _, body in found]


def deliver_events(zw: ZendeskWorld, url: str, secret: str, since: datetime, until: datetime | None = None, client: Any = None) -> int:
    """POST every event of (since, until] to `url`, signed; return how many were answered 2xx."""
    until = until or zw_now(zw)
    own = client is None
    http = client or httpx.Client(timeout=10)
    sent = 0
    try:
        for body in event_payloads(zw, since, until):
            response = http.post(url, content=body, headers=signed_headers(body, secret))
            sent += response.status_code < 300
    finally:
        if own:
            http.close()
    return sent


def zw_now(zw: ZendeskWorld) -> datetime:
    return max(u.at for t in zw.tickets for u in t.updates)
