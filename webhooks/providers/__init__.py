"""Webhook providers: each module defines a `WebhookProvider` (how to verify a delivery and name its event).

Adding Zendesk (base64 HMAC-SHA256 over `timestamp + body`, headers `X-Zendesk-Webhook-Signature(-Timestamp)`) or
Meta (hex HMAC-SHA256 of the body with the app secret, header `X-Hub-Signature-256: sha256=<hex>`) means one more
module with `missing_configuration`, `verify` and `identify`, and one entry in `PROVIDERS`. A provider whose
signature covers a timestamp checks it with `check_timestamp`, the same window for everyone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

MAX_FUTURE_SKEW_SECONDS = 60
"""How far ahead of our clock a signed timestamp may be (the sender's clock runs a little fast): beyond that it is
not a fresh delivery but one signed to be replayed later, and it is rejected as a stale one is."""


class InvalidDelivery(Exception):
    """Forged, stale or malformed: answered 400, stored nowhere."""


@dataclass(frozen=True)
class Identified:
    event_id: str
    event_type: str | None
    created: int | None


def check_timestamp(timestamp: int | str | None, tolerance: int, *, now: float | None = None,
                    future_skew: int = MAX_FUTURE_SKEW_SECONDS) -> None:
    """Raise InvalidDelivery unless the signed `timestamp` (unix seconds) is at most `tolerance` seconds old and at most
    `future_skew` seconds ahead."""
    try:
        signed = int(str(timestamp))
    except ValueError:
        raise InvalidDelivery("no valid signed timestamp") from None
    age = (time.time() if now is None else now) - signed
    if age > tolerance:
        raise InvalidDelivery(f"timestamp is {age:.0f} s old (tolerance {tolerance} s)")
    if -age > future_skew:
        raise InvalidDelivery(f"timestamp is {-age:.0f} s in the future (allowed clock skew {future_skew} s)")


class WebhookProvider(Protocol):
    name: str

    def missing_configuration(self) -> str | None:
        """None when deliveries can be verified; else what to set, naming the variable (no secret values)."""

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise InvalidDelivery unless the signature over the raw body is valid and fresh."""

    def identify(self, body: bytes) -> Identified:
        """The provider's event id (the dedup key) and type; raise InvalidDelivery on malformed payloads."""


def registered() -> dict[str, Any]:
    from .stripe import StripeWebhooks

    return {"stripe": StripeWebhooks()}
