"""Where messages go and how: routing by purpose, Slack credentials, limits and reminder thresholds.

Routing is data, not code: a purpose (`alerts`, `support`, `ops`, or any new one) maps to a channel through
`SLACK_ROUTES` (JSON) or `SLACK_ROUTE_<PURPOSE>`; defaults: alerts → #alerts, support → #support, ops → #ops.

Each channel is reached through its incoming webhook when one is configured (`SLACK_WEBHOOK_URL_<CHANNEL>` or the
Airflow Connection `slack_webhook_<channel>`), else through the bot token (`SLACK_BOT_TOKEN` or the Connection
`slack_api_default`) and `chat.postMessage`. `SLACK_TRANSPORT=webhook|bot` forces one. `SLACK_API_URL` points the
bot transport elsewhere (the demo and the tests point everything at the Slack simulator through these variables).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.common.config import ConfigurationError, env_float
from pipelines.common.redaction import register_secret
from pipelines.common.storage import data_dir

DEFAULT_ROUTES: dict[str, str] = {"alerts": "#alerts", "support": "#support", "ops": "#ops"}
BOT_CONNECTION_ID = "slack_api_default"
WEBHOOK_CONNECTION_PREFIX = "slack_webhook_"
PRODUCTION_API_URL = "https://slack.com/api/"


def _env_float(name: str, default: float) -> float:
    value = env_float(name, default)
    assert value is not None
    return value


def channel_env_suffix(channel: str) -> str:
    """`#ops-alerts` → `OPS_ALERTS`, the suffix of the channel's environment variables."""
    return channel.lstrip("#").upper().replace("-", "_").replace(".", "_")


def _connection(conn_id: str) -> Any | None:
    """An Airflow Connection, or None outside Airflow / when it does not exist."""
    try:
        from airflow.sdk import Connection

        return Connection.get(conn_id)
    except Exception:  # no Airflow context or no such connection: the caller falls back or fails clearly
        return None


def _webhook_from_connection(channel: str) -> str | None:
    conn = _connection(WEBHOOK_CONNECTION_PREFIX + channel.lstrip("#").replace("-", "_"))
    if conn is None:
        return None
    secret = conn.password or ""
    if secret.startswith("http"):
        return secret
    host = (conn.host or "https://hooks.slack.com/services").rstrip("/")
    return f"{host}/{secret.lstrip('/')}" if secret else None


@dataclass
class SlackSettings:
    routes: dict[str, str]
    api_base_url: str
    bot_token: str | None = field(default=None, repr=False)
    webhooks: dict[str, str] = field(default_factory=dict, repr=False)
    transport: str | None = None
    """'webhook' or 'bot' to force one; None = the channel's webhook if it has one, else the bot."""
    min_interval: float = 1.0
    """Seconds between two messages to the same channel (Slack: about 1 message per second per channel)."""
    lease_seconds: float = 300.0
    """A message claimed for sending longer ago than this, without a result, was lost in a crash."""
    alert_cooldown_minutes: float = 60.0
    stale_after_hours: float = 26.0
    approval_remind_after_hours: float = 24.0
    approval_remind_every_hours: float = 24.0
    state_path: Path = field(default_factory=lambda: data_dir() / "notifications.sqlite")

    def channel_for(self, purpose: str) -> str:
        try:
            return self.routes[purpose]
        except KeyError as exc:
            raise ConfigurationError(
                f"No Slack channel for purpose {purpose!r}; set SLACK_ROUTE_{purpose.upper()} (routes: {self.routes})"
            ) from exc

    def webhook_for(self, channel: str) -> str | None:
        key = channel.lstrip("#")
        if key not in self.webhooks:
            found = _webhook_from_connection(key)
            if found:
                register_secret(found)
                self.webhooks[key] = found
        return self.webhooks.get(key)

    def transport_for(self, channel: str) -> str:
        if self.transport == "bot" or (self.transport is None and not self.webhook_for(channel)):
            if not self.token():
                raise ConfigurationError(
                    f"No way to post to {channel}: set SLACK_WEBHOOK_URL_{channel_env_suffix(channel)} (or the "
                    f"Airflow Connection {WEBHOOK_CONNECTION_PREFIX}{channel.lstrip('#').replace('-', '_')}), or "
                    f"SLACK_BOT_TOKEN (or the Connection {BOT_CONNECTION_ID})."
                )
            return "bot"
        if not self.webhook_for(channel):
            raise ConfigurationError(f"SLACK_TRANSPORT=webhook but {channel} has no webhook URL configured")
        return "webhook"

    def token(self) -> str | None:
        if self.bot_token is None:
            conn = _connection(BOT_CONNECTION_ID)
            if conn is not None and conn.password:
                register_secret(conn.password)
                self.bot_token = conn.password
        return self.bot_token


def _routes() -> dict[str, str]:
    routes = dict(DEFAULT_ROUTES)
    raw = os.environ.get("SLACK_ROUTES", "").strip()
    if raw:
        try:
            extra = json.loads(raw)
        except ValueError as exc:
            raise ConfigurationError(f"SLACK_ROUTES must be a JSON object of purpose → channel: {exc}") from exc
        if not isinstance(extra, dict):
            raise ConfigurationError("SLACK_ROUTES must be a JSON object of purpose → channel")
        routes.update({str(k): str(v) for k, v in extra.items()})
    for name, value in os.environ.items():
        if name.startswith("SLACK_ROUTE_") and value.strip():
            routes[name[len("SLACK_ROUTE_") :].lower()] = value.strip()
    return routes


def load_settings() -> SlackSettings:
    """Resolve settings from the environment (and lazily from Airflow Connections). Cheap: call it per job."""
    routes = _routes()
    webhooks: dict[str, str] = {}
    api_base = os.environ.get("SLACK_API_URL", "").strip() or PRODUCTION_API_URL
    for name, value in os.environ.items():
        if name.startswith("SLACK_WEBHOOK_URL_") and value.strip():
            channel = name[len("SLACK_WEBHOOK_URL_") :].lower().replace("_", "-")
            webhooks[channel] = value.strip()
            webhooks[channel.replace("-", "_")] = value.strip()
    token = os.environ.get("SLACK_BOT_TOKEN") or None
    transport = os.environ.get("SLACK_TRANSPORT", "").strip().lower() or None
    if transport not in (None, "webhook", "bot"):
        raise ConfigurationError(f"SLACK_TRANSPORT must be 'webhook' or 'bot', got {transport!r}")
    for secret in [token, *webhooks.values()]:
        register_secret(secret)
    state_path = os.environ.get("OPSDATA_NOTIFY_DB")
    return SlackSettings(
        routes=routes,
        api_base_url=api_base,
        bot_token=token,
        webhooks=webhooks,
        transport=transport,
        min_interval=_env_float("SLACK_MIN_INTERVAL_SECONDS", 1.0),
        lease_seconds=_env_float("SLACK_OUTBOX_LEASE_SECONDS", 300.0),
        alert_cooldown_minutes=_env_float("SLACK_ALERT_COOLDOWN_MINUTES", 60.0),
        stale_after_hours=_env_float("OPSDATA_STALE_AFTER_HOURS", 26.0),
        approval_remind_after_hours=_env_float("APPROVAL_REMIND_AFTER_HOURS", 24.0),
        approval_remind_every_hours=_env_float("APPROVAL_REMIND_EVERY_HOURS", 24.0),
        **({"state_path": Path(state_path)} if state_path else {}),
    )
