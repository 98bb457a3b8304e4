"""Airflow notifiers: task failures open (or fold into) an incident in #alerts; a later success resolves it.

Use them at task level (`default_args={"on_failure_callback": failure_notifier(), "on_success_callback":
recovery_notifier()}`): DAG-level callbacks run in the dag-processor and are reported not to fire on Airflow
3.1–3.2 (apache/airflow#63374). Imports of the rest of the package happen inside `notify`, so DAG parsing stays light.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger("opsdata.notifications")


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def task_facts(context: Any) -> dict[str, Any]:
    """DAG id, task id, run id, try number, log URL and the error, from an Airflow callback context."""
    ti = _get(context, "task_instance") or _get(context, "ti")
    dag_run = _get(context, "dag_run")
    error = _get(context, "exception")
    return {
        "dag_id": _get(ti, "dag_id") or _get(_get(context, "dag"), "dag_id") or _get(context, "dag_id") or "?",
        "task_id": _get(ti, "task_id") or "?",
        "run_id": _get(ti, "run_id") or _get(dag_run, "run_id") or _get(context, "run_id") or "?",
        "try_number": _get(ti, "try_number"),
        "max_tries": _get(ti, "max_tries"),
        "log_url": _get(ti, "log_url"),
        "error": f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else (str(error) if error else ""),
    }


class OpsAlertNotifier(BaseNotifier):
    """On task failure: classify the error and report an incident (`notifications.jobs.report_alert`)."""

    template_fields = ()

    def notify(self, context: Any) -> None:
        from .alerts import Alert
        from .health import classify_failure, provider_of
        from .jobs import report_alert

        facts = task_facts(context)
        key, kind = classify_failure(facts["dag_id"], facts["task_id"], facts["error"])
        provider = provider_of(facts["dag_id"])
        title = {
            "auth": f"{provider}: authentication failing",
            "rate_limited": f"{provider}: rate limited (429 storm)",
        }.get(kind, f"{facts['dag_id']}.{facts['task_id']} failed")
        tries = f"{facts['try_number']}" + (f" of {facts['max_tries'] + 1}" if isinstance(facts["max_tries"], int) else "")
        summary = facts["error"][:1500]
        if kind == "auth" and provider:
            summary = f"{summary}\nTo fix: {fix_credentials_hint(provider)}."
        alert = Alert(
            key=key,
            title=title,
            summary=summary,
            details={"DAG": facts["dag_id"], "Task": facts["task_id"], "Run": facts["run_id"], "Try": tries},
            link=facts["log_url"],
        )
        outcome = report_alert(alert)
        log.info("Failure alert %s: %s (incident #%s)", key, outcome.action, outcome.incident_id)


class OpsRecoveryNotifier(BaseNotifier):
    """On task success: resolve that task's open incident, if there is one (no message otherwise)."""

    template_fields = ()

    def notify(self, context: Any) -> None:
        from .jobs import resolve_alert

        facts = task_facts(context)
        outcome = resolve_alert(f"task:{facts['dag_id']}.{facts['task_id']}", note=f"Run {facts['run_id']} succeeded.")
        if outcome.action == "resolved":
            log.info("Resolved incident #%s for %s.%s", outcome.incident_id, facts["dag_id"], facts["task_id"])


def fix_credentials_hint(provider: str) -> str:
    """What to renew, from the provider's registry entry: its credential variables and Airflow Connection."""
    from pipelines.registry import UnknownProviderError, get_integration

    try:
        return f"renew the credentials: {get_integration(provider).how_to_configure()}"
    except UnknownProviderError:
        return "renew the provider's credentials"


def failure_notifier() -> OpsAlertNotifier:
    """For task-level `on_failure_callback`."""
    return OpsAlertNotifier()


def recovery_notifier() -> OpsRecoveryNotifier:
    """For task-level `on_success_callback`."""
    return OpsRecoveryNotifier()
