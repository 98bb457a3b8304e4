"""The failure and deadline hooks: they reach the notifier, and a broken notifier never masks a task's own outcome."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    import notifications.airflow as slack_airflow

    got: list[Any] = []
    monkeypatch.setattr(slack_airflow, "failure_notifier", lambda: got.append)
    return got


def test_deadline_callback_reaches_the_notifier_as_a_late_run(received: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from dagkit.defaults import deadline_missed, late_run_alert

    run = SimpleNamespace(dag_id="extract_x", run_id="scheduled__2026-11-01")
    deadline_missed({"dag_run": run}, dag_id="extract_x", reason="not finished within 2:00:00 of being queued")
    (context,) = received
    assert context["dag_run"] is run
    assert isinstance(context["exception"], TimeoutError) and "extract_x" in str(context["exception"])
    # The alert that calls it is a DeadlineAlert on the run's queue time, with a synchronous (executor) callback.
    monkeypatch.setenv("OPSDATA_DEADLINE_ALERTS", "true")
    alert = late_run_alert("extract_x", timedelta(hours=2))
    assert alert is not None and alert.callback.path == "dagkit.defaults.deadline_missed"
    assert alert.callback.kwargs["dag_id"] == "extract_x"


def test_a_broken_notifier_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from dagkit.defaults import notify_failure

    import notifications.airflow as slack_airflow

    def broken() -> Any:
        raise RuntimeError("slack is down")

    monkeypatch.setattr(slack_airflow, "failure_notifier", broken)
    ti = SimpleNamespace(dag_id="extract_x", task_id="extract", run_id="r1", try_number=3)
    notify_failure({"ti": ti})  # must not raise: the task's failure is what Airflow records
    assert "the failure notifier itself failed for extract_x.extract run=r1 try=3" in caplog.text
