"""What every task and DAG shares: retries with exponential backoff, timeouts, the failure notifier, deadlines.

Retries are for what may pass (a 5xx storm, a lock, a truncated page). A terminal error
(`pipelines.common.errors.TerminalError`: a rejected or missing credential, an unparsable setting, schema drift, an
unknown provider name) fails the task at its first try, through Airflow 3.3's `retry_policy`, and alerts at once:
retrying a wrong key three times over a quarter of an hour only delays the alert that tells someone to fix it.

Failure alerts are attached at *task* level (`default_args["on_failure_callback"]`): DAG-level failure callbacks run
in the dag-processor and are reported not to fire on recent Airflow 3 releases (apache/airflow#63374), while
`dag.test()` runs them in-process, so a test of a DAG-level callback would prove nothing about production.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from typing import Any

# From their defining modules: airflow.sdk re-exports them lazily, and its type stub (__init__.pyi) omits them.
from airflow.sdk.definitions.callback import SyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference
from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule

log = logging.getLogger("opsdata.alerts")

START_DATE = datetime(2026, 1, 1)  # UTC: Airflow's default timezone; only the schedule's phase matters
OWNER = "data-platform"


def notify_failure(context: Any) -> None:
    """The one task-failure hook: hands the context to `notifications.airflow.failure_notifier()`.

    Imported lazily so DAG parsing never imports Slack code. A missing or broken notifier is logged loudly but never
    masks the task's own failure.
    """
    ti = context.get("ti") or context.get("task_instance")
    where = f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')} run={getattr(ti, 'run_id', '?')} try={getattr(ti, 'try_number', '?')}"
    try:
        from notifications.airflow import failure_notifier
    except ImportError:
        log.error("task failed (%s) but notifications.airflow is not importable: no alert sent", where)
        return
    try:
        failure_notifier()(context)
    except Exception:
        log.exception("the failure notifier itself failed for %s", where)


def notify_success(context: Any) -> None:
    """Task-success hook: lets `notifications.airflow.recovery_notifier()` resolve this task's open incident."""
    try:
        from notifications.airflow import recovery_notifier
    except ImportError:
        return  # nothing to resolve without the Slack package
    try:
        recovery_notifier()(context)
    except Exception:
        log.exception("the recovery notifier failed (the task itself succeeded)")


def deadline_missed(context: Any = None, **kwargs: Any) -> None:
    """Deadline-alert callback (runs on the executor): a run is late. Reuses the failure notifier's channel."""
    dag_id = kwargs.get("dag_id", "?")
    log.warning("deadline missed: %s (%s)", dag_id, kwargs.get("reason", "late run"))
    try:
        from notifications.airflow import failure_notifier
    except ImportError:
        log.error("deadline missed for %s but notifications.airflow is not importable: no alert sent", dag_id)
        return
    late_context = dict(context or {})
    late_context.setdefault("reason", kwargs.get("reason", "deadline missed"))
    late_context.setdefault("exception", TimeoutError(f"{dag_id}: {kwargs.get('reason', 'deadline missed')}"))
    try:
        failure_notifier()(late_context)
    except Exception:
        log.exception("the notifier failed for the deadline of %s", dag_id)


def deadline_alerts_enabled() -> bool:
    """On by default. `OPSDATA_DEADLINE_ALERTS=false` turns them off for `airflow dags test` / `dag.test()` runs:
    on Airflow 3.3.2 `dag.test()` crashes at the end of any run of a DAG that has a DeadlineAlert (it looks the
    alerts up by id but holds their serialized dicts: "'dict' object has no attribute 'hex'"), and deadlines need
    a scheduler anyway. The demo and the tests set it; the scheduler deployments leave it on."""
    return os.environ.get("OPSDATA_DEADLINE_ALERTS", "true").lower() not in {"0", "false", "no", "off"}


def late_run_alert(dag_id: str, within: timedelta) -> DeadlineAlert | None:
    """Alert when a run has not finished `within` of being queued (the Airflow 3 replacement for SLAs)."""
    if not deadline_alerts_enabled():
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=within,
        callback=SyncCallback(deadline_missed, kwargs={"dag_id": dag_id, "reason": f"not finished within {within} of being queued"}),
    )


TERMINAL_ERROR = "pipelines.common.errors.TerminalError"
"""By import path: the rule resolves it on the worker, so DAG parsing imports nothing of the pipelines."""


def terminal_errors_fail_at_once() -> ExceptionRetryPolicy:
    """Fail (no retry) on a terminal error; every other error gets the task's retries."""
    return ExceptionRetryPolicy(rules=[
        RetryRule(exception=TERMINAL_ERROR, action=RetryAction.FAIL, reason="terminal error: retrying will not help"),
    ])


def default_args(**overrides: Any) -> dict[str, Any]:
    """Task defaults: retries with exponential backoff (1, 2, 4 min ... capped) except for terminal errors, a timeout,
    the Slack notifiers."""
    args: dict[str, Any] = {
        "owner": OWNER,
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=20),
        "retry_policy": terminal_errors_fail_at_once(),
        "execution_timeout": timedelta(hours=1),
        "on_failure_callback": [notify_failure],
        "on_success_callback": [notify_success],
    }
    args.update(overrides)
    return args
