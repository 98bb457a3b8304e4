"""The one registry of providers. DAGs, the demo, the sandbox and the benchmarks all read it.

Adding a provider means: `pipelines/<name>/` (a dlt source + settings), `sandbox/<name>/` (its simulator),
`dbt_project/models/staging/<name>/`, and one `Provider(...)` line below. Everything else is derived from the
name by convention:

- `pipelines.<name>.source(config)` returns the `@dlt.source` for a resolved `ProviderConfig`;
- `pipelines.<name>.settings` holds constants (production base URL, documented rate limit, credential fields);
- `sandbox.<name>.create_app(state)` returns the simulator's FastAPI app, mounted at `/<name>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Provider:
    name: str
    schedule: str
    """Cron (UTC) for the extraction DAG."""
    description: str = ""
    extract: bool = True
    """False for providers we only post to (Slack): they get a simulator but no extraction DAG."""
    tags: tuple[str, ...] = field(default_factory=tuple)
    reconcile_schedule: str | None = None
    """If set, a second DAG `reconcile_<name>` runs `run_provider(name, mode="reconcile")` on this cron: a full
    re-read of mutable objects that incremental cursors can miss (e.g. Stripe subscription statuses)."""
    reverse_sync: str | None = None
    """If set (`"module:function"`), a DAG `sync_<name>` calls it after every tiles publish, in the provider's pool:
    data going back *to* the provider (e.g. Shopify customers -> Klaviyo profiles). The function takes no
    arguments, must be idempotent, and returns an object whose `describe()` summarises the run."""

    @property
    def dag_id(self) -> str:
        return f"extract_{self.name}"

    @property
    def dataset(self) -> str:
        return f"raw_{self.name}"

    @property
    def pool(self) -> str:
        """One slot per provider: one writer per raw DuckDB file and one consumer of the provider's rate limit."""
        return f"extract_{self.name}"

    @property
    def asset_uri(self) -> str:
        return f"duckdb://raw/{self.name}"


PROVIDERS: tuple[Provider, ...] = (
    Provider("shopify", schedule="15 * * * *", description="Shopify Admin GraphQL: customers, orders"),
    Provider("stripe", schedule="*/30 * * * *", description="Stripe: payments, subscriptions, payouts, disputes (API + webhooks)", tags=("finance",), reconcile_schedule="40 3 * * *"),
    Provider("klaviyo", schedule="30 * * * *", description="Klaviyo: email campaigns, flows, events, profiles, segments", tags=("marketing",), reverse_sync="pipelines.klaviyo.sync:run_sync"),
    Provider("meta", schedule="20 * * * *", description="Meta: Facebook Page, Instagram business, Meta Ads (Graph API)", tags=("marketing",)),
    Provider("slack", schedule="@once", description="Slack: where summaries and alerts go", extract=False),
    Provider("approvals", schedule="@once", description="Merchant approval queue (pending operator actions)", extract=False),
)


def extraction_providers() -> list[Provider]:
    return [p for p in PROVIDERS if p.extract]


def syncing_providers() -> list[Provider]:
    return [p for p in PROVIDERS if p.reverse_sync]


def get_provider(name: str) -> Provider:
    for provider in PROVIDERS:
        if provider.name == name:
            return provider
    known = ", ".join(p.name for p in PROVIDERS)
    raise KeyError(f"Unknown provider {name!r}; the registry has: {known}")
