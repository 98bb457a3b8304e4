"""Zendesk webhooks: `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(signing secret, timestamp + raw body)), with the
signed timestamp in `X-Zendesk-Webhook-Signature-Timestamp` (https://developer.zendesk.com/documentation/webhooks/verifying/).

Hand-written because Zendesk ships no verification library (its docs give the formula and a Node.js example):
constant-time comparison, any configured secret may match (comma-separated ZENDESK_WEBHOOK_SECRET during a
rotation), and a timestamp older than `TOLERANCE_SECONDS` (or further ahead than the receiver's shared skew) is a
replay, rejected like a forgery (`webhooks.providers.check_timestamp`, the same window for every provider).
The timestamp Zendesk signs is ISO 8601 (`2021-07-23T04:11:58Z`); Unix seconds are accepted too.

Payloads are event-subscription events (`zen:event-type:ticket.*`), deduplicated on their `id`. After an event is
stored, `after_store` checks that ticket's SLA breaches at once (see `alerts.breach_alerts_for_tickets`): webhooks
make the #support notice near-real-time; the incremental export stays the source of truth.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from webhooks.providers import Identified, InvalidDelivery, check_timestamp

TOLERANCE_SECONDS = 300
SIGNATURE = "x-zendesk-webhook-signature"
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"


def webhook_secrets() -> list[str]:
    """The `webhook_secret` credential (ZENDESK_WEBHOOK_SECRET, comma-separated during a rotation, else the Airflow
    Connection `zendesk_default` extra `webhook_secret`), resolved like every credential (and redacted)."""
    from pipelines.common.config import resolve_credentials

    from .provider import PROVIDER

    raw = resolve_credentials(PROVIDER, require=False).get("webhook_secret", "")
    return [s.strip() for s in raw.split(",") if s.strip()]


def _timestamp_seconds(raw: str) -> float:
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise InvalidDelivery("unreadable signature timestamp") from exc


class ZendeskWebhooks:
    name = "zendesk"

    def __init__(self, secrets: list[str] | None = None, tolerance: int = TOLERANCE_SECONDS,
                 clock: Callable[[], float] = time.time, follow_up: bool = True) -> None:
        self._secrets = secrets
        self.tolerance = tolerance
        self.clock = clock
        self.follow_up = follow_up

    def missing_configuration(self) -> str | None:
        if self._secrets if self._secrets is not None else webhook_secrets():
            return None
        return "set ZENDESK_WEBHOOK_SECRET (or the Airflow Connection zendesk_default, extra webhook_secret) to the webhook's signing secret"

    @property
    def secrets(self) -> list[str]:
        secrets = self._secrets if self._secrets is not None else webhook_secrets()
        if not secrets:
            raise RuntimeError("zendesk webhooks: no signing secret configured (ZENDESK_WEBHOOK_SECRET)")
        return secrets

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        signature, stamp = headers.get(SIGNATURE), headers.get(TIMESTAMP)
        if not signature or not stamp:
            raise InvalidDelivery("missing X-Zendesk-Webhook-Signature or X-Zendesk-Webhook-Signature-Timestamp header")
        check_timestamp(int(_timestamp_seconds(stamp)), self.tolerance, now=self.clock())
        signed = stamp.encode() + body
        for secret in self.secrets:
            expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
            if hmac.compare_digest(expected, signature.strip()):
                return
        raise InvalidDelivery("bad signature")

    def identify(self, body: bytes) -> Identified:
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise InvalidDelivery("body is not JSON") from exc
        if not isinstance(event, dict) or not str(event.get("type", "")).startswith("zen:event-type:") or not event.get("id"):
            raise InvalidDelivery("body is not a Zendesk event (no id or zen:event-type)")
        subject = str(event.get("subject", ""))
        if not subject.startswith("zen:"):
            raise InvalidDelivery("event has no zen: subject")
        created = None
        if event.get("time"):
            try:
                created = int(_timestamp_seconds(str(event["time"])))
            except InvalidDelivery:
                created = None
        return Identified(str(event["id"]), str(event["type"]), created)

    def after_store(self, event: Identified, body: bytes) -> None:
        """A ticket event just arrived: post the ticket's new SLA breaches now rather than after the next export."""
        if not self.follow_up:
            return
        payload = json.loads(body)
        subject = str(payload.get("subject", ""))
        if not subject.startswith("zen:ticket:"):
            return
        from notifications import jobs

        from .alerts import breach_alerts_for_tickets

        notices = breach_alerts_for_tickets([int(subject.rsplit(":", 1)[1])], reference=event.created)
        if notices:
            jobs.post_notices(list(notices))
