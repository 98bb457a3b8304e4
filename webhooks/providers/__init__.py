"""The webhook verifier protocol. Each provider that receives webhooks declares its verifier in its registry entry
(`Provider.webhook`, e.g. `pipelines/stripe/webhook.py`); the receiver serves one route per such provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


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


@runtime_checkable
class WebhookFollowUp(Protocol):
    """Optional for a verifier: work to do once an event is stored and acknowledged (Zendesk checks the ticket's SLA
    breaches at once). Runs after the 2xx; a failure is logged and loses nothing, the event stays in the inbox."""

    def after_store(self, event: Identified, body: bytes) -> None: ...


def registered() -> dict[str, WebhookProvider]:
    """Every registered provider's verifier, keyed by provider name."""
    from pipelines.registry import extraction_providers

    return {p.name: p.webhook() for p in extraction_providers() if p.webhook is not None}
