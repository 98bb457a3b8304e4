"""The one place that decides where each provider lives and with which credentials.

- Sandbox mode is on when `OPSDATA_SANDBOX_URL` is set (the demo and the tests set it): each provider's base URL
  becomes `<sandbox>/<provider>` and its credentials default to the sandbox's own (overridable by the same
  environment variables as in production, which is how tests exercise a wrong credential).
- Production: credentials come from environment variables named in `pipelines/<name>/settings.py`
  (`CREDENTIAL_ENV`), else from the Airflow Connection `CONNECTION_ID` (only resolvable inside a task).

Every secret value is registered with the log redactor the moment it is resolved.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .redaction import register_secret


class ConfigurationError(RuntimeError):
    """Missing or unusable configuration: a terminal error, retrying will not help."""


@dataclass(frozen=True)
class RateLimit:
    """A documented limit, expressed as a token bucket: `per_second` sustained, `burst` at most at once."""

    per_second: float
    burst: int = 1

    def scaled(self, factor: float) -> RateLimit:
        return RateLimit(self.per_second * factor, max(1, int(self.burst)))


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    base_url: str
    credentials: dict[str, str] = field(repr=False)
    sandbox: bool
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


def sandbox_url() -> str | None:
    url = os.environ.get("OPSDATA_SANDBOX_URL", "").strip()
    return url.rstrip("/") or None


def provider_settings(name: str) -> ModuleType:
    return importlib.import_module(f"pipelines.{name}.settings")


def _credentials_from_env(settings: ModuleType) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, env_name in getattr(settings, "CREDENTIAL_ENV", {}).items():
        value = os.environ.get(env_name)
        if value:
            found[key] = value
    return found


def _credentials_from_connection(settings: ModuleType) -> dict[str, str]:
    """Read the provider's Airflow Connection. Only works inside an Airflow task (or with AIRFLOW_CONN_* set)."""
    conn_id = getattr(settings, "CONNECTION_ID", None)
    if not conn_id:
        return {}
    try:
        from airflow.sdk import Connection

        conn = Connection.get(conn_id)
    except Exception:  # no Airflow context, no such connection: fall through to a clear error later
        return {}
    mapper = getattr(settings, "credentials_from_connection", None)
    if mapper is not None:
        return {k: v for k, v in mapper(conn).items() if v}
    return {"api_key": conn.password} if conn.password else {}


def _rate_limit(name: str, settings: ModuleType) -> RateLimit:
    limit: RateLimit = getattr(settings, "RATE_LIMIT", RateLimit(per_second=5, burst=5))
    override = os.environ.get(f"{name.upper()}_RATE_LIMIT_PER_SECOND")
    if override:
        limit = RateLimit(float(override), limit.burst)
    return limit


def provider_config(name: str, **options: Any) -> ProviderConfig:
    settings = provider_settings(name)
    sandbox = sandbox_url()
    credentials = _credentials_from_env(settings)
    if sandbox:
        sandbox_module = importlib.import_module(f"sandbox.{name}")
        credentials = {**getattr(sandbox_module, "SANDBOX_CREDENTIALS", {}), **credentials}
        base_url = f"{sandbox}/{name}"
    else:
        missing = [k for k in getattr(settings, "CREDENTIAL_ENV", {}) if k not in credentials]
        if missing:
            credentials = {**_credentials_from_connection(settings), **credentials}
        missing = [k for k in getattr(settings, "REQUIRED_CREDENTIALS", ()) if not credentials.get(k)]
        if missing:
            env_names = ", ".join(settings.CREDENTIAL_ENV[k] for k in missing if k in settings.CREDENTIAL_ENV)
            raise ConfigurationError(
                f"{name}: missing credentials {missing}. Set {env_names} or the Airflow Connection "
                f"{getattr(settings, 'CONNECTION_ID', '?')!r}."
            )
        base_url = os.environ.get(f"{name.upper()}_BASE_URL") or settings.PRODUCTION_BASE_URL.format(**credentials)
    for key in getattr(settings, "SECRET_FIELDS", ()):
        if credentials.get(key):
            register_secret(credentials[key])
    return ProviderConfig(
        name=name,
        base_url=base_url.rstrip("/"),
        credentials=credentials,
        sandbox=bool(sandbox),
        rate_limit=_rate_limit(name, settings),
        options=options,
    )
