"""Permanent errors, on every provider: they fail at once (no retry, in the client or in Airflow), say what to fix,
load nothing, and reach the failure notifier."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from pipelines.common.config import ConfigurationError
from pipelines.common.errors import CredentialsRejected, TerminalError
from pipelines.common.storage import published_raw_path, raw_db_path
from pipelines.registry import UnknownProviderError, get_provider
from pipelines.run import run_provider
from tests.failures.conftest import completed_loads, file_digest, load_dag, raw_fingerprint


def wrong_credential(provider: str) -> tuple[str, str]:
    """(environment variable, a wrong value shaped like the right one) for the provider's first secret credential
    that its simulator hands out."""
    from sandbox.common.simulator import load_simulator

    entry = get_provider(provider)
    given = load_simulator(entry.sandbox).credentials
    field = next(c for c in entry.credentials if c.secret and c.field in given)
    right = given[field.field]
    return field.env, right[:-6] + ("WRONG0" if not right.endswith("WRONG0") else "WRONG1")


def retried(caplog: pytest.LogCaptureFixture, provider: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "opsdata.http" and r.getMessage().startswith(f"{provider}: retrying")]


@pytest.mark.fault("wrong credential")
def test_a_wrong_credential_fails_at_once_naming_what_to_set(
    provider: str, env: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, scanned: list[str], outcome: Any
) -> None:
    variable, wrong = wrong_credential(provider)
    monkeypatch.setenv(variable, wrong)
    with caplog.at_level(logging.INFO), pytest.raises(CredentialsRejected) as failure:
        run_provider(provider)
    message = str(failure.value)
    scanned.append(message)
    # 401 from most APIs; Graph says it with a 400 and code 190, which Meta's client turns into the same error.
    assert message.startswith(f"{provider}: the API rejected the credentials (HTTP {failure.value.status} for "), message
    assert variable in message and "retrying will not help" in message
    assert "?" not in message.split(" for ", 1)[1].split(";", 1)[0].split(")", 1)[0]  # the URL, without a query string
    stats = env.state.stats[provider]
    assert stats.by_status[failure.value.status] == stats.requests, "only the rejected requests were sent"
    assert retried(caplog, provider) == []  # and none was retried
    assert raw_fingerprint(provider) == {}  # nothing loaded
    assert wrong not in message and wrong not in caplog.text
    outcome(f"CredentialsRejected after {stats.requests} request(s), none retried: ...{message.split(';', 1)[1][:90]}")


@pytest.mark.fault("revoked token")
def test_a_token_revoked_mid_run_fails_at_once_and_loads_nothing(
    provider: str, env: Any, caplog: pytest.LogCaptureFixture, scanned: list[str], outcome: Any
) -> None:
    run_provider(provider)
    before = raw_fingerprint(provider), completed_loads(raw_db_path(provider), f"raw_{provider}")
    published = file_digest(published_raw_path(provider))
    env.world.advance(10)
    # From the third request on, the API rejects the credential it accepted until then (the "5xx" fault kind
    # answers with any status): what a key revoked by an admin during a run looks like to the client.
    env.state.add_fault(provider, "5xx", count=100_000, skip=2, status=401)
    with caplog.at_level(logging.INFO), pytest.raises(CredentialsRejected) as failure:
        run_provider(provider)
    scanned.append(str(failure.value))
    assert "HTTP 401" in str(failure.value) and "retrying will not help" in str(failure.value)
    assert not [m for m in retried(caplog, provider) if "HTTP 401" in m]
    assert (raw_fingerprint(provider), completed_loads(raw_db_path(provider), f"raw_{provider}")) == before
    assert file_digest(published_raw_path(provider)) == published
    outcome(f"CredentialsRejected at the 3rd request of the run ({env.state.stats[provider].by_status[401]} x 401, none retried); nothing loaded")


@pytest.mark.fault("unparsable setting")
def test_an_unparsable_rate_limit_fails_before_any_request(
    provider: str, env: Any, monkeypatch: pytest.MonkeyPatch, outcome: Any
) -> None:
    variable = f"{provider.upper()}_RATE_LIMIT_PER_SECOND"
    monkeypatch.setenv(variable, "abc")
    with pytest.raises(ConfigurationError) as failure:
        run_provider(provider)
    assert str(failure.value) == f"{variable}='abc' is not a number; set it to e.g. 20 (or unset it for the default)"
    assert env.state.stats[provider].requests == 0
    outcome(f"ConfigurationError before any request: {failure.value}")


@pytest.mark.fault("unknown provider name")
def test_an_unknown_provider_name_fails_naming_the_registered_ones(outcome: Any) -> None:
    from dagkit.extract import run_extraction  # the DAG task body (tests/dags/conftest puts dags/ on the path)

    from pipelines.registry import extraction_providers

    for attempt in (lambda: run_provider("shopifyy"), lambda: run_extraction("shopifyy")):
        with pytest.raises(UnknownProviderError) as failure:
            attempt()
        assert isinstance(failure.value, TerminalError)
        assert str(failure.value).startswith("Unknown provider 'shopifyy'; the registry has: ")
        assert all(p.name in str(failure.value) for p in extraction_providers())
    outcome(f"UnknownProviderError (terminal): {failure.value}")


# --- in Airflow: the task fails at its first try, and the notifier alerts -------------------------------------
def _run_dag(dag_id: str, logical_date: datetime) -> Any:
    dag = load_dag(dag_id)
    task = dag.get_task("extract")
    assert task.retries >= 1 and task.retry_policy is not None  # retries remain for errors that may pass
    return dag.test(logical_date=logical_date)


@pytest.mark.fault("terminal error in Airflow: no retry, one alert")
@pytest.mark.parametrize("case", ["wrong credential", "type change"])
def test_in_airflow_a_terminal_error_fails_the_first_try_and_alerts(
    provider: str, case: str, facts: Any, env: Any, pools: list[str], monkeypatch: pytest.MonkeyPatch, outcome: Any
) -> None:
    from sandbox.slack import messages

    monkeypatch.setenv("SLACK_MIN_INTERVAL_SECONDS", "0.01")
    if case == "wrong credential":
        variable, wrong = wrong_credential(provider)
        monkeypatch.setenv(variable, wrong)
        expected = ["authentication failing", variable]
    else:
        run_provider(provider)
        env.world.advance(10)
        drift = facts.drift
        env.state.add_fault(provider, "type_change", count=100_000, path_contains=drift.path_contains, field=drift.field)
        expected = ["schema drift", f"table {drift.table}, column {drift.column}"]
    run = _run_dag(get_provider(provider).dag_id, datetime(2026, 10, 30, tzinfo=UTC))
    assert run.state == "failed"
    (ti,) = [ti for ti in run.get_task_instances() if ti.task_id == "extract"]
    assert ti.state == "failed" and ti.try_number == 1  # no retry despite `retries`
    alerts = messages(env.state, "alerts")
    assert len(alerts) == 1, alerts
    text = str(alerts[0])
    for fact in expected:
        assert fact in text, (fact, text[:600])
    outcome(f"{case}: task failed at try 1 of {ti.max_tries + 1}; one #alerts message ({expected[0]})")
