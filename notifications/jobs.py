"""What the notify DAG and the failure callbacks call. Each job enqueues, delivers, and returns what was posted.

Every job is safe to retry: messages have idempotency keys and go through the outbox, so a retry re-delivers only
what did not reach Slack. Every scheduled job also delivers messages left pending by earlier crashes or transient
errors (oldest first); the failure callback delivers only its own alert, to stay quick.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from . import alerts, approvals, health
from .config import SlackSettings, load_settings
from .delivery import deliver
from .digest import build_digest
from .outbox import Store
from .tiles import TileReader

log = logging.getLogger("opsdata.notifications")


def context(settings: SlackSettings | None = None) -> tuple[Store, SlackSettings]:
    settings = settings or load_settings()
    return Store(settings.state_path), settings


def _sent(store: Store, keys: list[str]) -> list[dict[str, Any]]:
    return [m.as_dict() for k in keys if (m := store.get(k)) is not None]


def flush_outbox(settings: SlackSettings | None = None) -> list[dict[str, Any]]:
    """Deliver everything still pending (messages from crashed or failed earlier attempts)."""
    store, settings = context(settings)
    return [d.__dict__ for d in deliver(store, settings)]


def send_digest(kind: str, as_of: date | str | None = None, settings: SlackSettings | None = None,
                purpose: str = "ops") -> list[dict[str, Any]]:
    """Post the daily or weekly digest (one per period and channel, however often this runs)."""
    store, settings = context(settings)
    if isinstance(as_of, str):  # from a DAG's params or templated ds
        as_of = date.fromisoformat(as_of)
    digest = build_digest(kind, as_of, TileReader())
    messages = digest.messages(settings.channel_for(purpose), purpose)
    log.info("%s: %d message(s), %d section(s)", digest.title, len(messages), len(digest.sections))
    for message in messages:
        store.enqueue(message)  # a key already queued or sent is ignored: one digest per period and channel
    deliver(store, settings)  # this digest and any leftovers, oldest first; raises after trying them all
    return _sent(store, [m.key for m in messages])


def send_approval_reminders(now: datetime | None = None, settings: SlackSettings | None = None) -> list[dict[str, Any]]:
    """Remind #ops about approval-queue items pending too long (grouped; once per item per interval)."""
    store, settings = context(settings)
    snapshot = approvals.read_queue()
    items = snapshot.items
    message = approvals.queue_reminders(store, settings, items, now or snapshot.as_of)
    keys = [message.key] if message else []
    log.info("Approval queue: %d pending, %d to remind", len(items), 0 if message is None else message.text.count("•"))
    deliver(store, settings)
    return _sent(store, keys)


def report_alert(alert: alerts.Alert, now: datetime | None = None, settings: SlackSettings | None = None) -> alerts.AlertOutcome:
    """Open or fold an incident and deliver its message, if any (used by the failure notifier and by Zendesk)."""
    store, settings = context(settings)
    outcome = alerts.raise_alert(store, settings, alert, now)
    if outcome.message_key:
        deliver(store, settings, keys=[outcome.message_key])
    return outcome


def report_provider_alerts(provider: str, now: datetime | None = None,
                           settings: SlackSettings | None = None) -> list[alerts.AlertOutcome]:
    """Raise every alert a provider's registry `alerts` capability returns (each keyed, so re-runs fold; notices,
    `once=True`, are posted once ever and grouped), then deliver what was opened."""
    from pipelines.registry import get_provider

    source = get_provider(provider).alerts
    if source is None:
        return []
    store, settings = context(settings)
    found = list(source())
    outcomes = [alerts.raise_alert(store, settings, alert, now) for alert in found if not alert.once]
    outcomes += alerts.post_notices(store, settings, [a for a in found if a.once], now)
    # Everything pending, not only this run's: a notice queued by a run that crashed before posting is recorded as
    # posted, so no later run would queue it again.
    deliver(store, settings)
    return outcomes


def resolve_alert(key: str, now: datetime | None = None, note: str = "", settings: SlackSettings | None = None) -> alerts.AlertOutcome:
    store, settings = context(settings)
    outcome = alerts.resolve(store, settings, key, now, note)
    if outcome.message_key:
        deliver(store, settings, keys=[outcome.message_key])
    return outcome


def check_provider_health(now: datetime | None = None, settings: SlackSettings | None = None,
                          providers: list[str] | None = None) -> list[dict[str, Any]]:
    """Open an incident per provider whose data is stale; resolve it (and that provider's auth / rate-limit / task
    incidents opened before its last successful load) once it loads again."""
    store, settings = context(settings)
    now = now or datetime.now(UTC)
    keys: list[str] = []
    for found in health.freshness(now, settings.stale_after_hours, providers):
        key = f"provider:{found.provider}:stale"
        if found.status in ("stale", "never"):
            title = f"{found.provider}: no fresh data" if found.status == "stale" else f"{found.provider}: never loaded"
            outcome = alerts.raise_alert(store, settings, alerts.Alert(
                key=key, title=title, summary=found.detail,
                details={"Provider": found.provider, "Allowed age": f"{health.max_age_hours(found.provider, settings.stale_after_hours):g} h",
                         "Last successful load": found.last_loaded_at.strftime("%Y-%m-%d %H:%M UTC") if found.last_loaded_at else "never"},
            ), now)
        elif found.status == "fresh" and found.last_loaded_at is not None:
            loaded = found.last_loaded_at.timestamp()
            note = f"Loaded successfully at {found.last_loaded_at.strftime('%Y-%m-%d %H:%M UTC')}."
            outcome = alerts.resolve(store, settings, key, now, note)
            if outcome.message_key:
                keys.append(outcome.message_key)
            for incident in alerts.open_incidents(store):
                related = incident["key"] in (f"provider:{found.provider}:auth", f"provider:{found.provider}:rate_limited") or (
                    incident["key"].startswith(f"task:extract_{found.provider}.") or incident["key"].startswith(f"task:reconcile_{found.provider}.")
                )
                if related and incident["last_seen_at"] < loaded:
                    resolved = alerts.resolve(store, settings, incident["key"], now, note)
                    if resolved.message_key:
                        keys.append(resolved.message_key)
            continue
        else:
            log.info("Health of %s unknown this time (%s): %s", found.provider, found.status, found.detail)
            continue
        if outcome.message_key:
            keys.append(outcome.message_key)
    deliver(store, settings)
    return _sent(store, keys)


def post_notices(notices: list[alerts.Alert], now: datetime | None = None, settings: SlackSettings | None = None) -> list[alerts.AlertOutcome]:
    """Post notices (facts posted once ever, grouped) and deliver them: e.g. SLA breaches found from a webhook."""
    store, settings = context(settings)
    outcomes = alerts.post_notices(store, settings, notices, now)
    keys = list(dict.fromkeys(o.message_key for o in outcomes if o.message_key))
    if keys:
        deliver(store, settings, keys=keys)
    return outcomes
