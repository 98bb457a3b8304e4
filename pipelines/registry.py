"""The one registry of integrations. DAGs, the demo, the sandbox, the webhook receiver, the digest, the failure-path
tests and the benchmarks all read it.

Adding a provider = its own folders (`pipelines/<p>/` with a `provider.py` declaring `PROVIDER`, `sandbox/<p>/`,
`dbt_project/models/*/<p>/`, `tests/*/<p>/`) + one line below. The contract is `pipelines/contract.py`; every entry
is validated when this module is imported, so a non-conforming entry fails loudly everywhere at once.
"""

from __future__ import annotations

from notifications.destinations import APPROVALS, SLACK
from pipelines.common.errors import TerminalError
from pipelines.contract import Destination, Integration, Provider, Queue, Registry
from pipelines.klaviyo.provider import PROVIDER as KLAVIYO
from pipelines.meta.provider import PROVIDER as META
from pipelines.shopify.provider import PROVIDER as SHOPIFY
from pipelines.stripe.provider import PROVIDER as STRIPE
from pipelines.zendesk.provider import PROVIDER as ZENDESK

REGISTRY = Registry((
    SHOPIFY,
    STRIPE,
    KLAVIYO,
    ZENDESK,
    META,
    SLACK,
    APPROVALS,
))
"""In order: the digest's sections and the demo's tables follow it."""


def integrations() -> tuple[Integration, ...]:
    return REGISTRY.entries


def extraction_providers() -> list[Provider]:
    return [e for e in REGISTRY.entries if isinstance(e, Provider)]


def destinations() -> list[Destination]:
    return [e for e in REGISTRY.entries if isinstance(e, Destination)]


def queues() -> list[Queue]:
    return [e for e in REGISTRY.entries if isinstance(e, Queue)]


def syncing_providers() -> list[Provider]:
    return [p for p in extraction_providers() if p.reverse_sync is not None]


def get_integration(name: str) -> Integration:
    for entry in REGISTRY.entries:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in REGISTRY.entries)
    raise UnknownProviderError(f"Unknown provider {name!r}; the registry has: {known}")


def get_provider(name: str) -> Provider:
    """The extraction provider `name`, or a clear error naming what the registry has."""
    entry = get_integration(name)
    if not isinstance(entry, Provider):
        known = ", ".join(p.name for p in extraction_providers())
        raise UnknownProviderError(f"{name!r} is a {entry.kind}, not an extraction provider; those are: {known}")
    return entry


class UnknownProviderError(TerminalError, KeyError):
    """A provider name the registry does not have (a typo in a DAG conf, a CLI argument or an env var)."""

    def __str__(self) -> str:  # KeyError would repr() the message, quotes and all
        return str(self.args[0]) if self.args else ""


def describe() -> str:
    """Every integration with its kind, credentials (environment variable, secret or not) and Connection."""
    lines = []
    for entry in REGISTRY.entries:
        lines.append(f"{entry.name} ({entry.kind}): {entry.description}")
        for c in entry.credentials:
            flags = ", ".join(f for f, on in (("secret", c.secret), ("required", c.required)) if on)
            lines.append(f"  {c.env:<28} {c.field}{f' ({flags})' if flags else ''}{f' - {c.doc}' if c.doc else ''}")
        if entry.connection is not None:
            lines.append(f"  Airflow Connection {entry.connection.conn_id!r}: {entry.connection.doc}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
