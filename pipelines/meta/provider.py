"""Meta's registry entry: the contract `pipelines/contract.py` checks. Cheap to import (read at DAG-parse time):
each capability imports its module when called."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.contract import AirflowConnection, Credential, Provider

from . import settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from notifications.alerts import Alert
    from notifications.digest import Period, Section
    from notifications.tiles import TileReader
    from pipelines.common.config import ProviderConfig
    from webhooks.providers import WebhookProvider


def credentials_from_connection(conn: Any) -> dict[str, str]:
    """Airflow Connection `meta_default`: login = app id, password = access token, extra = the rest."""
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    return {"app_id": conn.login or "", "access_token": conn.password or "", "app_secret": extra.get("app_secret", ""),
            "ad_account_id": extra.get("ad_account_id", ""), "page_id": extra.get("page_id", ""),
            "webhook_verify_token": extra.get("webhook_verify_token", "")}


def source(config: ProviderConfig) -> Any:
    from .source import source as meta_source

    return meta_source(config)


def webhook() -> WebhookProvider:
    from .webhook import MetaWebhooks

    return MetaWebhooks()


def digest_section(reader: TileReader, period: Period) -> Section | None:
    from .digest import meta_section

    return meta_section(reader, period)


def alerts() -> Sequence[Alert]:
    from .digest import token_alerts

    return token_alerts()


PROVIDER = Provider(
    name="meta",
    description="Meta: Facebook Page, Instagram business account and Meta Ads (Graph API)",
    credentials=(
        Credential("app_id", "META_APP_ID", secret=False, doc="Meta app id"),
        Credential("app_secret", "META_APP_SECRET", doc="app secret: signs appsecret_proof and verifies webhooks"),
        Credential("access_token", "META_ACCESS_TOKEN",
                   doc="system-user token (servers, no expiry) or long-lived user token (python -m pipelines.meta.auth exchange)"),
        Credential("ad_account_id", "META_AD_ACCOUNT_ID", secret=False, doc="ad account, act_<id>"),
        Credential("page_id", "META_PAGE_ID", secret=False, doc="Facebook Page id (its Instagram business account is found through it)"),
        Credential("webhook_verify_token", "META_WEBHOOK_VERIFY_TOKEN", required=False,
                   doc="the verify token given when subscribing the webhook"),
    ),
    connection=AirflowConnection(
        "meta_default", credentials_from_connection,
        doc="login = app id, password = access token, extra {app_secret, ad_account_id, page_id, webhook_verify_token}",
        example={"conn_type": "generic", "login": "123456789012345", "password": "EAAxxxxxxxxxxxxxxxxxxxx",
                 "extra": {"app_secret": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ad_account_id": "act_1234567890",
                           "page_id": "1234567890", "webhook_verify_token": "choose-a-long-random-string"}},
    ),
    sandbox="sandbox.meta",
    schedule="20 * * * *",
    production_base_url=settings.PRODUCTION_BASE_URL,
    rate_limit=settings.RATE_LIMIT,
    source=source,
    tags=("marketing",),
    webhook=webhook,
    digest_section=digest_section,
    alerts=alerts,
    bench="bench.bench_meta",
)
