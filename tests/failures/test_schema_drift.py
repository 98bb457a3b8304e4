"""Schema drift, on every provider: a new field is kept and noted; a type change fails loudly and loads nothing.

Which field to drift, and which raw table and column it lands in, each provider declares in
`tests/pipelines/<p>/failure_facts.py` (a column the tiles depend on).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pipelines.common.errors import SchemaDriftError
from pipelines.common.storage import published_raw_path, raw_db_path
from pipelines.run import run_provider
from tests.failures.conftest import completed_loads, file_digest, raw_fingerprint
from tests.failures.facts import FailureFacts


@pytest.mark.fault("unknown field")
def test_a_new_field_is_kept_and_noted_and_never_breaks_the_load(
    provider: str, facts: FailureFacts, env: Any, caplog: pytest.LogCaptureFixture, outcome: Any
) -> None:
    run_provider(provider)  # the tables exist: what follows is a field appearing in an established pipeline
    env.world.advance(10)  # new and changed records, which carry the new field
    case = facts.unknown_field
    env.state.add_fault(provider, "unknown_field", count=100_000, path_contains=case.path_contains if case else None,
                        field="loyaltyTier", value="gold")
    with caplog.at_level(logging.WARNING, logger="opsdata.run"):
        summary = run_provider(provider)
    assert summary.total_rows > 0
    if case is not None:  # the values landed (checked now: a snapshot table re-read below replaces its rows)
        from tests.helpers import raw_query

        assert raw_query(provider, f"select count(*) from raw_{provider}.{case.table} where loyalty_tier = 'gold'")[0][0] > 0
    env.state.clear_faults()
    after = run_provider(provider)  # nothing was left behind: a clean re-run finds nothing new
    assert {t: n for t, n in after.rows_extracted.items() if n and t not in facts.snapshot_tables} == {}
    if case is None:
        assert facts.unknown_field_dropped, f"{provider}: declare where an unknown field lands, or why it is dropped"
        assert summary.new_columns == []
        outcome(f"load complete; not extracted by design ({facts.unknown_field_dropped[:60]}...)")
        return
    noted = f"{case.table}.loyalty_tier (text)"
    assert noted in summary.new_columns, summary.new_columns
    assert any(noted in r.getMessage() for r in caplog.records if r.name == "opsdata.run")  # and said so in the log
    outcome(f"kept as {noted}, noted in the run summary and log; load complete")


@pytest.mark.fault("type change")
def test_a_type_change_fails_the_run_naming_it_and_loads_nothing(
    provider: str, facts: FailureFacts, env: Any, scanned: list[str], outcome: Any
) -> None:
    run_provider(provider)
    before = raw_fingerprint(provider), completed_loads(raw_db_path(provider), f"raw_{provider}")
    published = file_digest(published_raw_path(provider))
    env.world.advance(10)  # new and changed records, so the run has plenty to load
    case = facts.drift
    env.state.add_fault(provider, "type_change", count=100_000, path_contains=case.path_contains, field=case.field)
    with pytest.raises(Exception) as failure:
        run_provider(provider)
    message = str(failure.value)
    scanned.append(message)
    assert isinstance(failure.value, SchemaDriftError), f"{type(failure.value).__name__}: {message[:500]}"
    assert message.startswith(f"{provider}: schema drift"), message
    assert f"table {case.table}, column {case.column}: an object arrived" in message, message
    assert "nothing of this load was written" in message
    # Nothing of the package reached the raw file (no table touched, no load recorded) nor what dbt reads.
    assert (raw_fingerprint(provider), completed_loads(raw_db_path(provider), f"raw_{provider}")) == before
    assert file_digest(published_raw_path(provider)) == published
    outcome(f"SchemaDriftError: {message.split(': ', 2)[2][:100]}...; nothing loaded")


@pytest.mark.fault("type change before the first load")
def test_a_type_change_the_pipeline_cannot_see_is_caught_by_dbt(
    provider: str, facts: FailureFacts, env: Any, tmp_path: Any, scanned: list[str], outcome: Any
) -> None:
    """On a first load there is no committed schema to compare with: the drifted field loads under another column.
    The dbt tests on the columns the tiles depend on (not_null, column_type) then fail, so `dbt build` stops before
    the tiles and their publish."""
    from pipelines.transform import run_dbt

    case = facts.drift
    env.state.add_fault(provider, "type_change", count=100_000, path_contains=case.path_contains, field=case.field)
    run_provider(provider)
    result = run_dbt("test", "--select", f"source:{provider}.{case.table}", target_path=str(tmp_path / "target"), check=False)
    scanned.append(result.stdout)
    assert result.returncode != 0
    failing = [line for line in result.stdout.splitlines() if ("FAIL" in line or "ERROR" in line) and f"_{case.column}" in line]
    assert any(f"source_not_null_{provider}_{case.table}_{case.column}" in line for line in failing), result.stdout[-3000:]
    outcome(f"loads (nothing committed to compare with), then dbt's tests on {case.table}.{case.column} fail: "
            f"{len(failing)} failing")
