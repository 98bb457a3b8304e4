"""The suite covers every registered provider: each declares its facts, and the facts point at real columns."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.failures.conftest import REPO_ROOT, privacy_problems, secret_values, world_emails
from tests.failures.facts import FailureFacts, facts_for


def test_every_provider_declares_its_failure_facts(provider: str, facts: FailureFacts, reference: Any) -> None:
    """The drift case names a raw column a clean load fills and a staging model reads (so the tiles depend on it);
    the unknown-field case names a table a clean load creates."""
    drift = facts.drift
    assert drift.table in reference, f"{provider}: drift table {drift.table!r} is not a raw table: {sorted(reference)}"
    staging = Path(REPO_ROOT, "dbt_project", "models", "staging", provider)
    readers = [p for p in staging.glob("*.sql") if f"source('{provider}', '{drift.table}')" in p.read_text()]
    assert readers, f"{provider}: no staging model reads {drift.table}"
    assert any(re.search(rf"\b{drift.column}\b", p.read_text()) for p in readers), f"{provider}: no staging model reads {drift.table}.{drift.column}"
    tested = _source_tests(provider).get((drift.table, drift.column), set())
    assert {"not_null", "column_type"} <= tested, f"{provider}: give {drift.table}.{drift.column} not_null and column_type tests"
    if facts.unknown_field is not None:
        assert facts.unknown_field.table in reference
    assert set(facts.snapshot_tables) <= set(reference)


def _source_tests(provider: str) -> dict[tuple[str, str], set[str]]:
    """(table, column) -> names of the dbt tests on it, from the provider's sources YAML."""
    import yaml

    found: dict[tuple[str, str], set[str]] = {}
    for path in Path(REPO_ROOT, "dbt_project", "models", "staging", provider).glob("*.yml"):
        for source in yaml.safe_load(path.read_text()).get("sources", []):
            for table in source.get("tables", []):
                for column in table.get("columns", []):
                    tests = column.get("data_tests", [])
                    found[(table["name"], column["name"])] = {t if isinstance(t, str) else next(iter(t)) for t in tests}
    return found


def test_a_provider_without_facts_is_told_which_file_to_create() -> None:
    with pytest.raises(LookupError, match=r"tests/pipelines/acme/failure_facts.py with FACTS = "):
        facts_for("acme")


def test_the_privacy_check_catches_what_it_must() -> None:
    email = sorted(e for e in world_emails() if not e.startswith("@"))[0]
    secret = sorted(secret_values())[0]
    assert privacy_problems([f"opsdata.stripe: customer {email.upper()} failed"])  # case does not hide it
    assert privacy_problems(["opsdata.x: someone@example.com"])  # any address at the world's domains
    assert privacy_problems([f"dlt: key={secret}"])
    assert privacy_problems(["opsdata.http: " + "x" * 10_000])  # a body-sized record
    assert privacy_problems([f"sandbox.stripe: {email}"]) == []  # the simulator's own log is not production's
    assert privacy_problems(["opsdata.http: stripe: retrying http://127.0.0.1/v1/charges after HTTP 503"]) == []
