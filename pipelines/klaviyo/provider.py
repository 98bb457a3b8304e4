"""Klaviyo's registry entry: the contract `pipelines/contract.py` checks. Cheap to import (read at DAG-parse time):
each capability imports its module when called."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.contract import AirflowConnection, Credential, Describable, Provider

from . import settings

if TYPE_CHECKING:
    from notifications.digest import Period, Section
    from notifications.tiles import TileReader
    from pipelines.common.config import ProviderConfig


def credentials_from_connection(conn: Any) -> dict[str, str]:
    """Airflow Connection `klaviyo_default`: password = private API key, or login/password = OAuth client."""
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    if extra.get("auth") == "oauth":
        return {"client_id": conn.login, "client_secret": conn.password, "redirect_uri": extra.get("redirect_uri", "")}
    return {"api_key": conn.password}


def source(config: ProviderConfig) -> Any:
    from .source import source as klaviyo_source

    return klaviyo_source(config)


def reverse_sync() -> Describable:
    from .sync import run_sync

    return run_sync()


def digest_section(reader: TileReader, period: Period) -> Section | None:
    from .digest import klaviyo_section

    return klaviyo_section(reader, period)


PROVIDER = Provider(
    name="klaviyo",
    description="Klaviyo: email campaigns, flows, events, profiles, segments",
    # Either a private key or an OAuth client (+ a stored grant): which one is checked in helpers.auth_for.
    credentials=(
        Credential("api_key", "KLAVIYO_API_KEY", required=False, doc="private API key"),
        Credential("client_id", "KLAVIYO_CLIENT_ID", secret=False, required=False, doc="OAuth app client id"),
        Credential("client_secret", "KLAVIYO_CLIENT_SECRET", required=False, doc="OAuth app client secret"),
        Credential("redirect_uri", "KLAVIYO_REDIRECT_URI", secret=False, required=False, doc="OAuth redirect URI"),
        Credential("authorize_url", "KLAVIYO_AUTHORIZE_URL", secret=False, required=False,
                   doc=f"OAuth consent page (default {settings.AUTHORIZE_URL})"),
    ),
    connection=AirflowConnection(
        "klaviyo_default", credentials_from_connection,
        doc="password = private API key; or, for OAuth, login = client id, password = client secret, "
        "extra {auth: oauth, redirect_uri: ...} (then run the one-time authorization: python -m pipelines.klaviyo.oauth)",
        example={"conn_type": "generic", "password": "pk_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
    ),
    sandbox="sandbox.klaviyo",
    schedule="30 * * * *",
    production_base_url=settings.PRODUCTION_BASE_URL,
    rate_limit=settings.RATE_LIMIT,
    other_rate_limits=tuple(settings.tier_limits()),
    source=source,
    tags=("marketing",),
    interval_reload=True,
    reverse_sync=reverse_sync,
    digest_section=digest_section,
    bench="bench.bench_klaviyo",
    dashboard_page="dashboard.providers.klaviyo",
)
