"""Posting the outbox to Slack with slack-sdk, at most one message per second per channel.

- slack-sdk retries only connection errors by default: we add its `RateLimitErrorRetryHandler` (sleeps the
  `Retry-After` seconds) and `ServerErrorRetryHandler` (500/503).
- The per-channel pace is a lock file per channel holding the earliest next send time (`Store.channel_turn`), so
  every thread and task process on the host that posts keeps to it, not just one process.
- Permanent errors (revoked webhook, unknown or archived channel, bad token, invalid blocks) mark the message
  `failed` and raise `DeliveryError` with Slack's own error string; transient ones leave it `pending` for the
  next attempt (a task retry) and raise too, so the failure reaches the task log either way.

Crashes, and what each transport promises. A message is claimed (`sending`) only once its channel's turn has come,
right before the request, and released with Slack's answer. If the sender dies holding a claim, the next delivery
takes it over (at once when the dead process was on this host and its request has timed out, else after the lease):

- Bot token (`chat.postMessage`): **exactly once**. Every post carries the outbox key in its message metadata, so a
  message that may have reached Slack (a crash or a read timeout during the request) is first looked up in the
  channel history; found, it is recorded as sent; absent, it is posted. If the history cannot be read, it waits.
- Incoming webhook: **at least once**. A webhook cannot be read back, so a message whose request may have reached
  Slack is posted again: the alternative, never re-sending, silently loses every message whose sender crashed. A
  duplicate can only come from a crash (or a read timeout) between the request leaving and its answer being
  recorded, and both copies carry the same `ref <key>` line, so a reader can tell it is the same message. A crash
  anywhere else (while waiting for the channel's turn, before the request, after recording) re-sends nothing
  twice: the claim is taken only at the moment of sending. Choose the bot token where duplicates are not acceptable.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

from .blocks import MAX_BLOCKS
from .config import SlackSettings
from .outbox import Message, Store

log = logging.getLogger("opsdata.notifications")

METADATA_EVENT = "opsdata_notification"
# Web API errors that retrying cannot fix.
PERMANENT_API_ERRORS = {
    "channel_not_found", "is_archived", "not_in_channel", "not_authed", "invalid_auth", "account_inactive",
    "token_revoked", "token_expired", "no_permission", "missing_scope", "invalid_blocks", "msg_too_long", "no_text",
    "restricted_action", "invalid_arguments", "unknown_method", "team_access_not_granted",
}
MAX_CONTEXT_ELEMENTS = 10  # Block Kit's limit per context block
PACE_MARGIN = 1.02
"""Space posts slightly more than Slack's 1 s apart: clocks and request parsing jitter by milliseconds."""


class DeliveryError(RuntimeError):
    """One or more messages could not be posted. `permanent` when retrying will not help; `ambiguous` when the
    request may have reached Slack (a read timeout): re-sending blindly could post it twice."""

    def __init__(self, message: str, permanent: bool, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.ambiguous = ambiguous


def _timeout() -> float:
    return float(os.environ.get("SLACK_TIMEOUT_SECONDS", "30"))


def _request_seconds() -> float:
    """How long after its claim a dead sender's request can still be in flight: answered or dropped by then."""
    return _timeout() + 5


def _unreachable(channel: str, what: str, exc: Exception) -> DeliveryError:
    # A connect error (URLError) never reached Slack; a read timeout may have: Slack could have posted it.
    ambiguous = isinstance(exc, TimeoutError)
    return DeliveryError(f"{channel}: {what} {'timed out' if ambiguous else 'unreachable'}: {exc}", permanent=False, ambiguous=ambiguous)


@dataclass
class Delivery:
    key: str
    channel: str
    status: str
    ts: str | None = None
    error: str | None = None


def retry_handlers() -> list[RetryHandler]:
    # OPSDATA_FAST_RETRIES (set by the tests) shortens the backoff between transient retries, not Retry-After.
    factor = 0.02 if os.environ.get("OPSDATA_FAST_RETRIES") == "1" else 0.5
    backoff = BackoffRetryIntervalCalculator(backoff_factor=factor)
    return [
        ConnectionErrorRetryHandler(max_retry_count=3, interval_calculator=backoff),
        RateLimitErrorRetryHandler(max_retry_count=5),
        ServerErrorRetryHandler(max_retry_count=3, interval_calculator=backoff),
    ]


class Transport:
    """Posts one message; raises DeliveryError. `find` looks a message up after a crash (bot transport only)."""

    can_read_back = False
    """True when `find` can tell whether an earlier attempt reached Slack (exactly once); else at least once."""

    def post(self, message: Message) -> str | None:
        raise NotImplementedError

    def find(self, message: Message) -> str | None | bool:
        """The ts of an earlier post of this message, None if it was not posted, False if we cannot know."""
        return False


def with_ref(message: Message) -> tuple[str, list[dict[str, Any]]]:
    """The text and blocks of `message` with a `ref <key>` line: a webhook post may be repeated after a crash, and the
    ref is how a reader (or a script reading the channel) tells a repeat from a new message."""
    ref = f"ref {message.key}"
    blocks = list(message.blocks)
    if not blocks:
        return f"{message.text}\n{ref}", blocks
    last = blocks[-1]
    if last.get("type") == "context" and len(last.get("elements", [])) < MAX_CONTEXT_ELEMENTS:
        blocks[-1] = {**last, "elements": [*last["elements"], {"type": "plain_text", "text": ref}]}
    elif len(blocks) < MAX_BLOCKS:
        blocks.append({"type": "context", "elements": [{"type": "plain_text", "text": ref}]})
    return f"{message.text}\n{ref}", blocks


class WebhookTransport(Transport):
    def __init__(self, url: str) -> None:
        self.client = WebhookClient(url, timeout=int(_timeout()), retry_handlers=retry_handlers())

    def post(self, message: Message) -> str | None:
        text, blocks = with_ref(message)
        try:
            response = self.client.send(text=text, blocks=blocks or None, unfurl_links=False)
        except Exception as exc:  # connection errors after slack-sdk's own retries
            raise _unreachable(message.channel, "webhook", exc) from exc
        if response.status_code == 200:
            return None  # incoming webhooks answer a bare "ok": no ts
        error = (response.body or "").strip() or f"HTTP {response.status_code}"
        transient = response.status_code == 429 or response.status_code >= 500
        hint = "" if transient else " (the webhook was revoked or its channel changed: create a new one)" if response.status_code in (403, 404, 410) else ""
        raise DeliveryError(f"{message.channel}: Slack webhook answered {response.status_code} {error}{hint}", permanent=not transient)


class BotTransport(Transport):
    can_read_back = True

    def __init__(self, token: str, base_url: str) -> None:
        self.client = WebClient(token=token, base_url=base_url, timeout=int(_timeout()), retry_handlers=retry_handlers())

    def post(self, message: Message) -> str | None:
        try:
            response = self.client.chat_postMessage(
                channel=message.channel,
                text=message.text,
                blocks=message.blocks or None,
                unfurl_links=False,
                metadata={"event_type": METADATA_EVENT, "event_payload": {"key": message.key}},
            )
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error") if exc.response is not None else "unknown_error"
            status = exc.response.status_code if exc.response is not None else 0
            permanent = error in PERMANENT_API_ERRORS and status != 429
            raise DeliveryError(f"{message.channel}: chat.postMessage failed: {error}", permanent=permanent) from exc
        except Exception as exc:
            raise _unreachable(message.channel, "chat.postMessage", exc) from exc
        return str(response.get("ts"))

    def find(self, message: Message) -> str | None | bool:
        try:
            history = self.client.conversations_history(channel=message.channel, limit=200, include_all_metadata=True)
        except Exception as exc:
            log.warning("Cannot check %s history for %s: %s", message.channel, message.key, exc)
            return False
        found: list[dict[str, Any]] = history.get("messages", [])
        for item in found:
            meta = item.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("key") == message.key:
                return str(item.get("ts"))
        return None


def transport_for(settings: SlackSettings, channel: str) -> Transport:
    if settings.transport_for(channel) == "webhook":
        url = settings.webhook_for(channel)
        assert url is not None  # transport_for checked it
        return WebhookTransport(url)
    token = settings.token()
    assert token is not None
    return BotTransport(token, settings.api_base_url)


def _deliver_one(store: Store, settings: SlackSettings, transport: Transport, message: Message) -> Delivery:
    request_seconds = _request_seconds()
    with store.channel_turn(message.channel, settings.min_interval * PACE_MARGIN) as turn:
        claim = store.claim(message.key, settings.lease_seconds, request_seconds)  # the moment of sending, not earlier
        if claim is None:
            return Delivery(message.key, message.channel, "in_flight")  # another worker has it, or it is done
        if claim.previous == "sending" or claim.attempts > 0:
            # Its sender died mid-send, or an earlier attempt failed: Slack may have it already.
            found = transport.find(message)
            if found:
                store.mark_sent(message.key, str(found))
                log.info("Slack message %s was already in %s (ts %s): not re-sent", message.key, message.channel, found)
                return Delivery(message.key, message.channel, "sent", ts=str(found))
            if found is False and transport.can_read_back:
                error = f"cannot read {message.channel} back to check whether an earlier attempt was posted: not re-sent yet"
                store.mark(message.key, "pending", error)
                log.error("Slack message %s: %s", message.key, error)
                return Delivery(message.key, message.channel, "pending", error=error)
            if found is False and claim.previous == "sending":
                log.warning("Slack message %s: its sender died mid-send; re-sending to %s (a webhook cannot be read "
                            "back; if the first post got through, both carry 'ref %s')", message.key, message.channel, message.key)
        turn.used = True
        try:
            ts = transport.post(message)
        except DeliveryError as exc:
            status = "failed" if exc.permanent else "pending"
            if exc.ambiguous and transport.can_read_back:
                found = transport.find(message)
                if found:
                    store.mark_sent(message.key, str(found))
                    return Delivery(message.key, message.channel, "sent", ts=str(found))
            error = str(exc)
            if exc.ambiguous and not transport.can_read_back:
                error += f" (it may have been posted: the retry re-sends it, both copies carry 'ref {message.key}')"
            store.mark(message.key, status, error)
            (log.error if exc.permanent else log.warning)("Slack message %s not delivered: %s", message.key, error)
            return Delivery(message.key, message.channel, status, error=error)
        store.mark_sent(message.key, ts)
    log.info("Posted %s to %s", message.key, message.channel)
    return Delivery(message.key, message.channel, "sent", ts=ts)


def deliver(store: Store, settings: SlackSettings, keys: list[str] | None = None, raise_on_error: bool = True) -> list[Delivery]:
    """Post deliverable outbox messages (all, or only `keys`): channels in parallel, each channel in order."""
    by_channel: dict[str, list[Message]] = defaultdict(list)
    for message in store.deliverable(keys, settings.lease_seconds, _request_seconds()):
        by_channel[message.channel].append(message)

    def run_channel(channel: str) -> list[Delivery]:
        try:
            transport = transport_for(settings, channel)
        except Exception as exc:  # configuration: nothing in this channel can go
            for m in by_channel[channel]:
                store.mark(m.key, "pending", str(exc))
            return [Delivery(m.key, channel, "pending", error=str(exc)) for m in by_channel[channel]]
        return [_deliver_one(store, settings, transport, m) for m in by_channel[channel]]

    results: list[Delivery] = []
    if by_channel:
        with ThreadPoolExecutor(max_workers=min(8, len(by_channel)), thread_name_prefix="slack") as pool:
            for batch in pool.map(run_channel, list(by_channel)):
                results.extend(batch)
    failures = [d for d in results if d.status in ("failed", "pending")]
    if failures and raise_on_error:
        permanent = any(d.status == "failed" for d in failures)
        detail = "; ".join(f"{d.key}: {d.error}" for d in failures)
        raise DeliveryError(f"{len(failures)} Slack message(s) not delivered: {detail}", permanent=permanent)
    return results


def post_now(store: Store, settings: SlackSettings, messages: list[Message]) -> list[dict[str, Any]]:
    """Enqueue `messages` (idempotent by key) and deliver them. Returns what Slack now holds for those keys."""
    for message in messages:
        store.enqueue(message)
    keys = [m.key for m in messages]
    deliver(store, settings, keys=keys)
    return [m.as_dict() for k in keys if (m := store.get(k)) is not None]
