"""Zendesk's registry entry: the contract `pipelines/contract.py` checks. Cheap to import (read at DAG-parse time):
each capability imports its module when called."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipelines.contract import AirflowConnection, Credential, Provider

from . import settings

if TYPE_CHECKING:
    from datetime import date

    from notifications.alerts import Alert
    from notifications.digest import Period, Section
    from notifications.tiles import TileReader
    from pipelines.common.config import ProviderConfig
    from webhooks.providers import WebhookProvider


def credentials_from_connection(conn: Any) -> dict[str, str]:
    """Airflow Connection `zendesk_default`: host = subdomain (or `<subdomain>.zendesk.com`), login = agent email,
    password = API token; extra `{client_id, client_secret, refresh_token, webhook_secret}` for OAuth and webhooks."""
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    host = (conn.host or "").removeprefix("https://").split(".zendesk.com")[0]
    out = {"subdomain": host, "email": conn.login or "", "api_token": conn.password or ""}
    for key in ("client_id", "client_secret", "refresh_token", "webhook_secret"):
        if extra.get(key):
            out[key] = str(extra[key])
    return out


def source(config: ProviderConfig) -> Any:
    from .source import source as zendesk_source

    return zendesk_source(config)


def webhook() -> WebhookProvider:
    from .webhook import ZendeskWebhooks

    return ZendeskWebhooks()


def digest_section(reader: TileReader, period: Period) -> Section | None:
    from .digest import zendesk_section

    return zendesk_section(reader, period)


def last_active_day(reader: TileReader) -> date | None:
    from .digest import last_active_day as last_day

    return last_day(reader)


def alerts() -> Sequence[Alert]:
    from .alerts import new_breach_alerts

    return new_breach_alerts()


PROVIDER = Provider(
    name="zendesk",
    description="Zendesk Support: tickets, SLAs, agents and CSAT (incremental exports + webhooks)",
    credentials=(
        Credential("subdomain", "ZENDESK_SUBDOMAIN", secret=False, doc="the <subdomain> of <subdomain>.zendesk.com"),
        Credential("email", "ZENDESK_EMAIL", required=False, doc="admin agent's email, for API token auth (masked in logs)"),
        Credential("api_token", "ZENDESK_API_TOKEN", required=False, doc="API token (Admin Center > Apps and integrations > APIs)"),
        Credential("client_id", "ZENDESK_OAUTH_CLIENT_ID", secret=False, required=False, doc="OAuth client identifier"),
        Credential("client_secret", "ZENDESK_OAUTH_CLIENT_SECRET", required=False, doc="OAuth client secret"),
        Credential("refresh_token", "ZENDESK_OAUTH_REFRESH_TOKEN", required=False,
                   doc="first OAuth refresh token (or run python -m pipelines.zendesk.oauth authorize once)"),
        Credential("webhook_secret", "ZENDESK_WEBHOOK_SECRET", required=False,
                   doc="webhook signing secret(s), comma-separated during a rotation"),
    ),
    connection=AirflowConnection(
        "zendesk_default", credentials_from_connection,
        doc="host = subdomain, login = admin email, password = API token; or extra {client_id, client_secret, "
        "refresh_token} for OAuth; extra webhook_secret for webhook signatures",
        example={"conn_type": "generic", "host": "northwind-roasters", "login": "admin@example.com",
                 "password": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "extra": {"webhook_secret": "xxxxxxxxxxxxxxxxxxxxxxxx"}},
    ),
    sandbox="sandbox.zendesk",
    schedule="*/15 * * * *",
    production_base_url=settings.PRODUCTION_BASE_URL,
    rate_limit=settings.RATE_LIMIT,
    other_rate_limits=(settings.INCREMENTAL_RATE_LIMIT, settings.USERS_CURSOR_RATE_LIMIT),
    source=source,
    tags=("support",),
    webhook=webhook,
    digest_section=digest_section,
    last_active_day=last_active_day,
    alerts=alerts,
    alert_purposes=("support",),
    bench="bench.bench_zendesk",
    dashboard_page="dashboard.providers.zendesk",
)
