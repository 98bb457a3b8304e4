"""The one credential resolver: where each provider lives and with which credentials, from its registry contract.

For every credential field the provider declares (`Credential(field, env, secret)` in its `provider.py`):
1. the environment variable it names, else
2. the provider's Airflow Connection (only resolvable inside a task, or with `AIRFLOW_CONN_*` set).

The base URL is the contract's `production_base_url` (formatted with the credentials, e.g. the Shopify shop name)
unless `<NAME>_BASE_URL` is set. There is no "sandbox mode" here: the demo and the tests point a provider at its
simulator exactly as a user would point it anywhere else, through `<NAME>_BASE_URL` and the credential variables
(`sandbox/env.py` builds that environment). Every secret value is registered with the log redactor the moment it
is resolved.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelines.contract import RateLimit

from .errors import TerminalError
from .redaction import register_secret

if TYPE_CHECKING:
    from pipelines.contract import Integration, Provider

__all__ = ["ConfigurationError", "ProviderConfig", "RateLimit", "provider_config", "resolve_credentials"]


class ConfigurationError(TerminalError, RuntimeError):
    """Missing or unusable configuration: a terminal error, retrying will not help."""


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    base_url: str
    credentials: dict[str, str] = field(repr=False)
    rate_limit: RateLimit
    options: dict[str, Any] = field(default_factory=dict)

    def credential(self, key: str) -> str:
        try:
            value = self.credentials[key]
        except KeyError as exc:
            raise ConfigurationError(f"{self.name}: credential {key!r} is not configured") from exc
        if not value:
            raise ConfigurationError(f"{self.name}: credential {key!r} is empty")
        return value


def env_float(name: str, default: float | None = None) -> float | None:
    """A numeric setting from the environment; a value that is not a number is a clear configuration error."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number; set it to e.g. 20 (or unset it for the default)") from None
    if value < 0 or value != value:  # negative or NaN
        raise ConfigurationError(f"{name}={raw!r} must be zero or more")
    return value


def _from_connection(integration: Integration) -> dict[str, str]:
    connection = integration.connection
    if connection is None:
        return {}
    if "airflow.sdk" not in sys.modules and f"AIRFLOW_CONN_{connection.conn_id.upper()}" not in os.environ:
        # Outside a task (where the SDK is loaded) only an AIRFLOW_CONN_* variable can hold the Connection: without
        # one, importing the SDK (seconds: Airflow's configuration and ORM) could find nothing.
        return {}
    try:
        from airflow.sdk import Connection

        conn = Connection.get(connection.conn_id)
    except Exception:  # no Airflow context or no such connection: the caller reports what is missing
        return {}
    return {k: v for k, v in connection.to_credentials(conn).items() if v}


def resolve_credentials(integration: Integration, *, require: bool = True) -> dict[str, str]:
    """Every declared credential: environment first, then the Airflow Connection. Raises a ConfigurationError
    naming the variables (and the Connection) when a required one is missing, unless `require=False`."""
    found = {c.field: os.environ[c.env] for c in integration.credentials if os.environ.get(c.env)}
    if any(c.field not in found for c in integration.credentials):
        found = {**_from_connection(integration), **found}
    for c in integration.credentials:
        if c.secret and found.get(c.field):
            register_secret(found[c.field])
    missing = [f for f in integration.required_fields() if not found.get(f)]
    if missing and require:
        raise ConfigurationError(f"{integration.name}: missing credentials {missing}; {integration.how_to_configure(missing)}.")
    return found


def rate_limit(provider: Provider) -> RateLimit:
    """The documented limit, or `<NAME>_RATE_LIMIT_PER_SECOND` (e.g. a plan above the documented default)."""
    assert provider.rate_limit is not None  # validated by the registry
    name = f"{provider.name.upper()}_RATE_LIMIT_PER_SECOND"
    override = env_float(name)
    if override == 0:
        raise ConfigurationError(f"{name}=0: a rate limit must be positive")
    return provider.rate_limit if override is None else RateLimit(override, provider.rate_limit.burst, provider.rate_limit.scope)


def provider_config(name: str, **options: Any) -> ProviderConfig:
    from pipelines.registry import get_provider

    provider = get_provider(name)
    limit = rate_limit(provider)  # an unparsable override fails before anything else
    credentials = resolve_credentials(provider)
    base_url = os.environ.get(f"{name.upper()}_BASE_URL", "").strip()
    if not base_url:
        try:
            base_url = provider.production_base_url.format(**credentials)
        except KeyError as exc:
            raise ConfigurationError(f"{name}: the base URL needs credential {exc.args[0]!r}; {provider.how_to_configure()}.") from None
    return ProviderConfig(name=name, base_url=base_url.rstrip("/"), credentials=credentials, rate_limit=limit, options=options)
