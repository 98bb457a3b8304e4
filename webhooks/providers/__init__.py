"""Webhook providers: each module defines a `WebhookProvider` (how to verify a delivery and name its event).

Adding Zendesk (base64 HMAC-SHA256 over `timestamp + body`, headers `X-Zendesk-Webhook-Signature(-Timestamp)`) or
Meta (hex HMAC-SHA256 of the body with the app secret, header `X-Hub-Signature-256: sha256=<hex>`) means one more
module with `verify` and `identify`, and one entry in `PROVIDERS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class InvalidDelivery(Exception):
    """Forged, stale or malformed: answered 400, stored nowhere."""


@dataclass(frozen=True)
class Identified:
    event_id: str
    event_type: str | None
    created: int | None


class WebhookProvider(Protocol):
    name: str

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise InvalidDelivery unless the signature over the raw body is valid and fresh."""

    def identify(self, body: bytes) -> Identified:
        """The provider's event id (the dedup key) and type; raise InvalidDelivery on malformed payloads."""


def registered() -> dict[str, Any]:
    from .stripe import StripeWebhooks

    return {"stripe": StripeWebhooks()}
