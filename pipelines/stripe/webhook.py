"""Stripe webhooks: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256(secret, f"{t}.{raw body}").

Verification is the official SDK's (`stripe.WebhookSignature.verify_header`): constant-time compare, any `v1` may
match (Stripe sends one per secret while a secret is being rolled), timestamps older than the tolerance (300 s) are
rejected as replays. We also accept several configured secrets (comma-separated) for our side of a roll.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import stripe

from webhooks.providers import Identified, InvalidDelivery, check_timestamp

TOLERANCE_SECONDS = 300


def webhook_secrets() -> list[str]:
    """The `webhook_secret` credential (STRIPE_WEBHOOK_SECRET, comma-separated during a roll, else the Airflow
    Connection `stripe_default` extra `webhook_secret`), resolved like every credential (and redacted)."""
    from pipelines.common.config import resolve_credentials

    from .provider import PROVIDER

    raw = resolve_credentials(PROVIDER, require=False).get("webhook_secret", "")
    return [s.strip() for s in raw.split(",") if s.strip()]


class StripeWebhooks:
    name = "stripe"

    def __init__(self, secrets: list[str] | None = None, tolerance: int = TOLERANCE_SECONDS) -> None:
        self._secrets = secrets
        self.tolerance = tolerance

    def missing_configuration(self) -> str | None:
        if self._secrets if self._secrets is not None else webhook_secrets():
            return None
        return "set STRIPE_WEBHOOK_SECRET (or the Airflow Connection stripe_default, extra webhook_secret) to the endpoint's signing secret"

    @property
    def secrets(self) -> list[str]:
        secrets = self._secrets if self._secrets is not None else webhook_secrets()
        if not secrets:
            raise RuntimeError("stripe webhooks: no signing secret configured (STRIPE_WEBHOOK_SECRET)")
        return secrets

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        header = headers.get("stripe-signature")
        if not header:
            raise InvalidDelivery("missing Stripe-Signature header")
        payload = body.decode("utf-8", errors="replace")
        for secret in self.secrets:
            try:
                stripe.WebhookSignature.verify_header(payload, header, secret, self.tolerance)
            except stripe.SignatureVerificationError as exc:
                last: Any = exc
                continue
            # The SDK rejects only old timestamps; one far in the future is as suspect.
            check_timestamp(next((p.strip()[2:] for p in header.split(",") if p.strip().startswith("t=")), None), self.tolerance)
            return
        raise InvalidDelivery(f"bad signature: {last.user_message or last}")

    def identify(self, body: bytes) -> Identified:
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise InvalidDelivery("body is not JSON") from exc
        if (
            not isinstance(event, dict)
            or event.get("object") != "event"
            or not str(event.get("id", "")).startswith("evt_")
        ):
            raise InvalidDelivery("body is not a Stripe event")
        obj = (event.get("data") or {}).get("object")
        if not isinstance(obj, dict) or not obj.get("id"):
            raise InvalidDelivery("event has no data.object")
        created = event.get("created")
        return Identified(event["id"], event.get("type"), int(created) if isinstance(created, int) else None)
