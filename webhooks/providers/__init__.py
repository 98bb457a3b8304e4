"""The webhook verifier protocol. Each provider that receives webhooks declares its verifier in its registry entry
(`Provider.webhook`, e.g. `pipelines/stripe/webhook.py`); the receiver serves one route per such provider. A provider whose signature covers a
timestamp checks it with `check_timestamp`, the same window for everyone; every verifier reports missing
configuration (`missing_configuration`), which the receiver shows on `/health`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class WebhookFollowUp(Protocol):
    """Optional for a verifier: work to do once an event is stored and acknowledged (Zendesk checks the ticket's SLA
    breaches at once). Runs after the 2xx; a failure is logged and loses nothing, the event stays in the inbox."""

    def after_store(self, event: Identified, body: bytes) -> None: ...


def registered() -> dict[str, WebhookProvider]:
    """Every registered provider's verifier, keyed by provider name; `WEBHOOK_PROVIDERS` (comma-separated names)
    narrows the receiver to the providers a deployment actually receives webhooks from."""
    import os

    from pipelines.registry import extraction_providers

    available = {p.name: p for p in extraction_providers() if p.webhook is not None}
    wanted = [n.strip() for n in os.environ.get("WEBHOOK_PROVIDERS", "").split(",") if n.strip()]
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise ValueError(f"WEBHOOK_PROVIDERS names {unknown}, which receive no webhooks; those that do: {sorted(available)}")
    return {name: provider.webhook() for name, provider in available.items()
            if (not wanted or name in wanted) and provider.webhook is not None}
