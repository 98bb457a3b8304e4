"""The provider contract: what an integration offers, declared and typed, and checked when the registry loads.

Three kinds, because they are used differently:

- `Provider`: a system we *extract* from on a schedule (Shopify, Stripe, Klaviyo, ...). It gets an `extract_<name>`
  DAG, a pool, a raw DuckDB file, a raw Asset, the shared failure-path suite, and whatever optional capabilities it
  declares (interval reload, reconcile, reverse sync, webhook verifier, digest section, alerts, bench).
- `Destination`: a system we only *post to* (Slack). No schedule, no raw data; just credentials and a simulator.
- `Queue`: an internal source the notify DAG *reads* on its own cadence (the approvals queue). No raw data.

Every entry is a frozen dataclass instance built in the integration's own `provider.py` (or, for Slack and the
approvals queue, in `notifications/destinations.py`) and listed once in `pipelines/registry.py`. mypy checks the
types; `validate()` checks what types cannot say (names, crons, credential fields used by the base URL, ...), and
runs when the registry is imported, so a malformed entry fails every DAG file, the demo and the tests at once, with
a message that names the entry and the field.

Cheap to import by design: the registry is read at DAG-parse time. Capabilities are plain callables defined in the
provider's `provider.py`, which import their heavy modules (dlt, SDKs) inside their body, at run time only.

The sandbox simulator is named by module (`sandbox="sandbox.stripe"`), not imported: production code never imports
the sandbox. Only the sandbox server resolves it (and checks that it exposes a `sandbox.common.simulator.Simulator`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datetime import date

    from notifications.alerts import Alert
    from notifications.digest import Period, Section
    from notifications.tiles import TileReader
    from pipelines.common.config import ProviderConfig
    from webhooks.providers import WebhookProvider


class ContractError(ValueError):
    """A registry entry that does not conform to the contract."""


@dataclass(frozen=True)
class RateLimit:
    """A documented limit, expressed as a token bucket: `per_second` sustained, `burst` at most at once.

    `scope` says what the limit applies to in the provider's own words ("account", "per endpoint, tier M",
    "incremental exports"), so a reader can check it against the docs quoted beside it.
    """

    per_second: float
    burst: int = 1
    scope: str = "account"

    def __post_init__(self) -> None:
        if not self.per_second > 0:
            raise ContractError(f"rate limit {self.scope!r}: per_second must be positive, got {self.per_second!r}")
        if self.burst < 1:
            raise ContractError(f"rate limit {self.scope!r}: burst must be at least 1, got {self.burst!r}")

    @classmethod
    def per_minute(cls, requests: float, burst: int = 1, scope: str = "account") -> RateLimit:
        return cls(requests / 60.0, burst, scope)

    def scaled(self, factor: float) -> RateLimit:
        return RateLimit(self.per_second * factor, max(1, int(self.burst)), self.scope)


@dataclass(frozen=True)
class Credential:
    """One credential field: where it comes from (`env`, else the Airflow Connection) and whether it is secret.

    Secret values are registered with the log redactor the moment they are resolved.
    """

    field: str
    env: str
    secret: bool = True
    required: bool = True
    doc: str = ""


@dataclass(frozen=True)
class AirflowConnection:
    """The Airflow Connection that may hold the credentials, and how its fields map onto credential fields."""

    conn_id: str
    to_credentials: Callable[[Any], Mapping[str, str]]
    """Airflow `Connection` -> {credential field: value}; empty values are ignored."""
    doc: str = ""
    example: Mapping[str, Any] = field(default_factory=dict)
    """Placeholder fields (`conn_type`, `host`, `password`, `extra`, ...) for the generated connections example."""


class Describable(Protocol):
    def describe(self) -> str: ...


SourceFactory = Callable[["ProviderConfig"], Any]
"""Resolved configuration -> the provider's `@dlt.source` (a `DltSource`)."""
DigestSection = Callable[["TileReader", "Period"], "Section | None"]
"""Reads only the provider's own published tiles; None when they are not published (no section)."""
AlertSource = Callable[[], "Sequence[Alert]"]
"""Called after each successful extraction: the alerts the new data raises (each with a stable incident key)."""


@dataclass(frozen=True)
class Integration:
    """What every kind has: a name, a description, credentials and the simulator that stands in for it."""

    name: str
    description: str
    credentials: tuple[Credential, ...]
    sandbox: str
    """Module of the sandbox simulator (`sandbox.<name>`), resolved by the sandbox server only."""
    connection: AirflowConnection | None = None
    other_connections: tuple[AirflowConnection, ...] = ()
    """Further Connections the integration reads (e.g. one Slack incoming webhook per channel), for the docs."""

    kind = "integration"

    def credential_env(self) -> dict[str, str]:
        return {c.field: c.env for c in self.credentials}

    def secret_fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.credentials if c.secret)

    def required_fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.credentials if c.required)

    def how_to_configure(self, fields: Sequence[str] | None = None) -> str:
        """'set STRIPE_API_KEY or the Airflow Connection stripe_default': what an error message tells a user to fix."""
        wanted = [c for c in self.credentials if fields is None or c.field in fields]
        where = ", ".join(c.env for c in wanted) or "(no credentials)"
        if self.connection is not None:
            return f"set {where} or the Airflow Connection {self.connection.conn_id!r}"
        return f"set {where}"

    def validate(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ContractError(f"{self.name!r}: name must be lower_snake_case (it names DAGs, files and schemas)")
        if not self.description.strip():
            raise ContractError(f"{self.name}: description is empty")
        fields = [c.field for c in self.credentials]
        if len(fields) != len(set(fields)):
            raise ContractError(f"{self.name}: duplicate credential fields {fields}")
        for c in self.credentials:
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", c.env):
                raise ContractError(f"{self.name}: credential {c.field!r} has a malformed environment variable {c.env!r}")
        if not re.fullmatch(r"sandbox\.[a-z][a-z0-9_]*", self.sandbox):
            raise ContractError(f"{self.name}: sandbox must name a module under sandbox/, got {self.sandbox!r}")
        if self.connection is not None and not callable(self.connection.to_credentials):
            raise ContractError(f"{self.name}: connection.to_credentials must be callable")


_CRON = re.compile(r"^(@(once|hourly|daily|weekly|monthly|yearly)|(\S+\s+){4}\S+)$")


@dataclass(frozen=True)
class Provider(Integration):
    """A system we extract from. Everything the shared layer needs to schedule, configure, test and alert on it."""

    schedule: str = ""
    """Cron (UTC) of the `extract_<name>` DAG."""
    production_base_url: str = ""
    """May use credential fields, e.g. `https://{shop}.myshopify.com`. `<NAME>_BASE_URL` overrides it."""
    rate_limit: RateLimit | None = None
    """The client's default budget: the documented limit the shared HTTP layer paces every request to."""
    other_rate_limits: tuple[RateLimit, ...] = ()
    """Further documented limits (per endpoint, per export), applied by the provider's client where they bite."""
    source: SourceFactory | None = None
    tags: tuple[str, ...] = ()

    # Optional capabilities.
    interval_reload: bool = False
    """The source honours `interval_start` / `interval_end` options (Airflow backfills), see dagkit/extract.py."""
    reconcile_schedule: str | None = None
    """If set, a `reconcile_<name>` DAG runs the source with `mode="reconcile"` on this cron."""
    reverse_sync: Callable[[], Describable] | None = None
    """If set, a `sync_<name>` DAG calls it after every tiles publish (idempotent; data going back to the provider)."""
    webhook: Callable[[], WebhookProvider] | None = None
    """If set, the receiver serves `POST /webhooks/<name>` with this verifier."""
    digest_section: DigestSection | None = None
    last_active_day: Callable[[TileReader], date | None] | None = None
    """The last day the provider's tiles show activity: the default digest never reports on a day past the data."""
    alerts: AlertSource | None = None
    alert_purposes: tuple[str, ...] = ()
    """Slack purposes (routes) the provider's alerts use besides `alerts`, e.g. `support`; checked against routing."""
    bench: str | None = None
    """Module of the provider's benchmark (`bench.bench_<name>`), run by `make bench`; named, not imported."""
    dashboard_page: str | None = None
    """Module of the provider's dashboard page (`dashboard.providers.<name>`, exposing `PAGE`, a
    `dashboard.page.ProviderPage`); named, not imported: the dashboard builds its navigation from the registry."""

    kind = "provider"

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

    @property
    def connection_id(self) -> str | None:
        return self.connection.conn_id if self.connection else None

    def validate(self) -> None:
        super().validate()
        for label, cron in (("schedule", self.schedule), ("reconcile_schedule", self.reconcile_schedule)):
            if cron is not None and not _CRON.match(cron.strip()):
                raise ContractError(f"{self.name}: {label} {cron!r} is not a cron expression")
        if not self.production_base_url.startswith("https://"):
            raise ContractError(f"{self.name}: production_base_url must be an https URL, got {self.production_base_url!r}")
        used = set(re.findall(r"{(\w+)}", self.production_base_url))
        unknown = used - {c.field for c in self.credentials}
        if unknown:
            raise ContractError(f"{self.name}: production_base_url uses {sorted(unknown)}, which are not credential fields")
        if self.rate_limit is None:
            raise ContractError(f"{self.name}: rate_limit is required (the provider's documented limit)")
        if self.source is None or not callable(self.source):
            raise ContractError(f"{self.name}: source must be a callable (ProviderConfig -> dlt source)")
        for label, value in (("reverse_sync", self.reverse_sync), ("webhook", self.webhook),
                             ("digest_section", self.digest_section), ("alerts", self.alerts),
                             ("last_active_day", self.last_active_day)):
            if value is not None and not callable(value):
                raise ContractError(f"{self.name}: {label} must be callable")
        if self.bench is not None and not re.fullmatch(r"bench\.bench_[a-z0-9_]+", self.bench):
            raise ContractError(f"{self.name}: bench must name a module under bench/, got {self.bench!r}")
        if self.dashboard_page is not None and not re.fullmatch(r"dashboard\.providers\.[a-z0-9_]+", self.dashboard_page):
            raise ContractError(f"{self.name}: dashboard_page must name a module under dashboard/providers/, got {self.dashboard_page!r}")


@dataclass(frozen=True)
class Destination(Integration):
    """A system we only post to (Slack): credentials and a simulator, no extraction."""

    kind = "destination"


@dataclass(frozen=True)
class Queue(Integration):
    """An internal queue the notify DAG reads (pending approvals): credentials and a simulator, no raw data."""

    kind = "queue"


@dataclass(frozen=True)
class Registry:
    """The validated set of integrations, in declaration order."""

    entries: tuple[Integration, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [e.name for e in self.entries]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ContractError(f"registry: duplicate names {duplicates}")
        for entry in self.entries:
            if type(entry) not in (Provider, Destination, Queue):
                raise ContractError(f"registry: {entry!r} is not a Provider, Destination or Queue")
            entry.validate()
