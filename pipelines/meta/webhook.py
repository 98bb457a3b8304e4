"""Meta webhooks: the GET verification handshake and signed POST deliveries.

- Subscribing (`POST /{app-id}/subscriptions`) makes Meta call the callback with `GET ?hub.mode=subscribe&
  hub.verify_token=...&hub.challenge=...`: answer the challenge with 200 when the token is ours, else 403.
- Each delivery carries `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`. Meta signs the body
  with non-ASCII characters escaped (`\\u00e9`), so the signature is checked over the raw bytes as received, never
  over re-serialised JSON. Constant-time comparison; the legacy SHA-1 header is not accepted.
- Deliveries have no event id: the dedup key is the SHA-256 of the raw body (Meta redelivers the same bytes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from webhooks.providers import Identified, InvalidDelivery


def _credential(field: str) -> str:
    """A credential resolved like every other (environment, then the Airflow Connection; registered as secret)."""
    from pipelines.common.config import resolve_credentials

    from .provider import PROVIDER

    return resolve_credentials(PROVIDER, require=False).get(field, "")


class MetaWebhooks:
    name = "meta"

    def __init__(self, app_secret: str | None = None, verify_token: str | None = None) -> None:
        self._app_secret = app_secret
        self._verify_token = verify_token

    def missing_configuration(self) -> str | None:
        """What the receiver reports on /health (and answers 503 with) until the signing secret is configured."""
        if self._app_secret or _credential("app_secret"):
            return None
        return "set META_APP_SECRET (or the Airflow Connection meta_default) to the app secret that signs deliveries"

    @property
    def app_secret(self) -> str:
        secret = self._app_secret or _credential("app_secret")
        if not secret:
            raise RuntimeError("meta webhooks: no app secret configured (META_APP_SECRET)")
        return secret

    @property
    def verify_token(self) -> str:
        token = self._verify_token or _credential("webhook_verify_token")
        if not token:
            raise RuntimeError("meta webhooks: no verify token configured (META_WEBHOOK_VERIFY_TOKEN)")
        return token

    def challenge(self, params: Mapping[str, str]) -> str:
        """The `hub.challenge` to echo, or InvalidDelivery (answered 403) when the mode or token is wrong."""
        if params.get("hub.mode") != "subscribe" or not params.get("hub.challenge"):
            raise InvalidDelivery("not a subscription verification request")
        if not hmac.compare_digest(params.get("hub.verify_token", "").encode(), self.verify_token.encode()):
            raise InvalidDelivery("verify token does not match")
        return str(params["hub.challenge"])

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        header = headers.get("x-hub-signature-256") or ""
        if not header.startswith("sha256="):
            raise InvalidDelivery("missing X-Hub-Signature-256")
        expected = hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(header[len("sha256="):].strip().lower(), expected):
            raise InvalidDelivery("signature does not match the body")

    def identify(self, body: bytes) -> Identified:
        try:
            payload: Any = json.loads(body)
            entries = payload["entry"]
            obj = str(payload["object"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidDelivery("payload is not a Meta webhook (object, entry)") from exc
        if not isinstance(entries, list) or not entries:
            raise InvalidDelivery("payload has no entries")
        fields = sorted({str(c.get("field")) for e in entries for c in (e.get("changes") or []) if isinstance(c, dict)})
        created = max((int(e.get("time") or 0) for e in entries if isinstance(e, dict)), default=0) or None
        return Identified(hashlib.sha256(body).hexdigest(), f"{obj}:{','.join(fields)}" if fields else obj, created)
