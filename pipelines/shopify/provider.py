"""Shopify's registry entry: the contract `pipelines/contract.py` checks. Cheap to import (read at DAG-parse time):
each capability imports its module when called."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.contract import AirflowConnection, Credential, Provider

from . import settings

if TYPE_CHECKING:
    from datetime import date

    from notifications.digest import Period, Section
    from notifications.tiles import TileReader
    from pipelines.common.config import ProviderConfig


def credentials_from_connection(conn: Any) -> dict[str, str]:
    """Airflow Connection `shopify_default`: host = shop name (or <shop>.myshopify.com), password = access token."""
    shop = (conn.host or "").removeprefix("https://").split(".myshopify.com")[0]
    return {"shop": shop, "access_token": conn.password or ""}


def source(config: ProviderConfig) -> Any:
    from .source import source as shopify_source

    return shopify_source(config)


def digest_section(reader: TileReader, period: Period) -> Section | None:
    from .digest import shopify_section

    return shopify_section(reader, period)


def last_active_day(reader: TileReader) -> date | None:
    from .digest import last_active_day as shopify_last_active_day

    return shopify_last_active_day(reader)


PROVIDER = Provider(
    name="shopify",
    description="Shopify Admin GraphQL: customers, orders",
    credentials=(
        Credential("shop", "SHOPIFY_SHOP", secret=False, doc="the shop's name, as in <shop>.myshopify.com"),
        Credential("access_token", "SHOPIFY_ACCESS_TOKEN", doc="Admin API access token (custom app)"),
    ),
    connection=AirflowConnection(
        "shopify_default", credentials_from_connection, doc="host = <shop>.myshopify.com, password = Admin API access token",
        example={"conn_type": "generic", "host": "your-shop.myshopify.com", "password": "shpat_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
    ),
    sandbox="sandbox.shopify",
    schedule="15 * * * *",
    production_base_url=settings.PRODUCTION_BASE_URL,
    rate_limit=settings.RATE_LIMIT,
    source=source,
    interval_reload=True,
    digest_section=digest_section,
    last_active_day=last_active_day,
    bench="bench.bench_shopify",
    dashboard_page="dashboard.providers.shopify",
)
