"""Stripe's registry entry: the contract `pipelines/contract.py` checks. Cheap to import (read at DAG-parse time):
each capability imports its module when called."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.contract import AirflowConnection, Credential, Provider

from . import settings

if TYPE_CHECKING:
    from notifications.digest import Period, Section
    from notifications.tiles import TileReader
    from pipelines.common.config import ProviderConfig
    from webhooks.providers import WebhookProvider


def credentials_from_connection(conn: Any) -> dict[str, str]:
    """Airflow Connection `stripe_default`: password = secret key, extra `{"webhook_secret": "whsec_..."}`."""
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    return {"api_key": conn.password or "", "webhook_secret": extra.get("webhook_secret", "")}


def source(config: ProviderConfig) -> Any:
    from .source import source as stripe_source

    return stripe_source(config)


def webhook() -> WebhookProvider:
    from .webhook import StripeWebhooks

    return StripeWebhooks()


def digest_section(reader: TileReader, period: Period) -> Section | None:
    from .digest import stripe_section

    return stripe_section(reader, period)


PROVIDER = Provider(
    name="stripe",
    description="Stripe: payments, subscriptions, payouts, disputes (API + webhooks)",
    credentials=(
        Credential("api_key", "STRIPE_API_KEY", doc="secret (sk_) or restricted (rk_) key"),
        Credential("webhook_secret", "STRIPE_WEBHOOK_SECRET", required=False,
                   doc="endpoint signing secret(s), comma-separated during a roll"),
    ),
    connection=AirflowConnection(
        "stripe_default", credentials_from_connection, doc="password = restricted (read) or secret key; extra webhook_secret",
        example={"conn_type": "generic", "password": "rk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
                 "extra": {"webhook_secret": "whsec_xxxxxxxxxxxxxxxxxxxxxxxx"}},
    ),
    sandbox="sandbox.stripe",
    schedule="*/30 * * * *",
    production_base_url=settings.PRODUCTION_BASE_URL,
    rate_limit=settings.RATE_LIMIT,
    other_rate_limits=(settings.LIVE_RATE_LIMIT,),
    source=source,
    tags=("finance",),
    interval_reload=True,
    reconcile_schedule="40 3 * * *",
    webhook=webhook,
    digest_section=digest_section,
    bench="bench.bench_stripe",
    dashboard_page="dashboard.providers.stripe",
)
