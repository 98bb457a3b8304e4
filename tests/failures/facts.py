"""What the shared failure-path suite needs to know about one provider, declared in that provider's own test folder.

The suite (`tests/failures/`) runs every check on every registered extraction provider. The few facts it cannot
derive from the registry or the simulator (which field to drift, what a no-change re-run costs, ...) each provider
declares in `tests/pipelines/<provider>/failure_facts.py` as `FACTS = FailureFacts(...)`. A registered provider
without that module fails `test_every_provider_declares_its_failure_facts` with the path to create; no shared list
of providers exists anywhere in the suite.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.server import SandboxServer


@dataclass(frozen=True)
class DriftCase:
    """A field the provider's API sends whose type the sandbox changes (`type_change` fault: a value becomes
    `{"unexpected": value}`), and the raw table and column that field loads into (a column the tiles depend on)."""

    field: str
    table: str
    column: str
    path_contains: str | None = None
    """Restrict the fault to requests whose path contains this (None: every response that has the field)."""


@dataclass(frozen=True)
class UnknownFieldCase:
    """Where a field the API starts sending (`unknown_field` fault, added to every record) lands as a new column."""

    table: str
    path_contains: str | None = None


@dataclass(frozen=True)
class FailureFacts:
    drift: DriftCase
    rerun_requests: Callable[[SandboxServer], int]
    """The minimum number of requests of a re-run when nothing changed, computed from the sandbox world."""
    unknown_field: UnknownFieldCase | None = None
    unknown_field_dropped: str = ""
    """If `unknown_field` is None: why the source never extracts an unknown field (the suite then checks only that
    the load stays complete and unbroken)."""
    snapshot_tables: tuple[str, ...] = ()
    """Tables every run re-reads in full by design (snapshots without a cursor): a no-change re-run extracts them
    again, and must leave their row counts unchanged."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment the provider's tests run with (e.g. rate limits scaled up on client and simulator alike)."""
    prepare: Callable[[SandboxServer], None] | None = None
    """Sandbox knobs to set before a run (the simulator side of `env`)."""


def facts_module(provider: str) -> str:
    return f"tests.pipelines.{provider}.failure_facts"


def facts_for(provider: str) -> FailureFacts:
    """The provider's declared facts; a clear error naming the file to create when there are none."""
    module_name = facts_module(provider)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (module_name, module_name.rsplit(".", 1)[0]):
            raise
        raise LookupError(
            f"{provider}: no failure facts; create tests/pipelines/{provider}/failure_facts.py with "
            "FACTS = tests.failures.facts.FailureFacts(...) (see tests/failures/facts.py)"
        ) from None
    facts = getattr(module, "FACTS", None)
    if not isinstance(facts, FailureFacts):
        raise LookupError(f"{module_name} must define FACTS = FailureFacts(...), got {facts!r}")
    return facts
