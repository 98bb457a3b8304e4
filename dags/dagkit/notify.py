"""The `notify` DAG: the Slack work (`notifications.jobs`), after every tiles publish and on a daily calendar.

Runs when the tiles Asset updates (fresh numbers) and every day at 07:00 UTC (so reminders and health checks run
even when no data arrives — the day nothing arrives is the day the health check matters most). The jobs themselves
are idempotent per period and channel, so an hourly tiles update never posts the daily digest twice.
Slack code is imported inside the tasks only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable

from dagkit.assets import TILES
from dagkit.defaults import START_DATE, default_args, late_run_alert

DAG_ID = "notify"
CALENDAR = "0 7 * * *"  # daily, UTC; the weekly digest goes out on Mondays


def _jobs() -> Any:
    from notifications import jobs

    return jobs


def run_check_provider_health(**context: Any) -> Any:
    return _jobs().check_provider_health()


def run_send_daily_digest(**context: Any) -> Any:
    return _jobs().send_digest("daily")


def run_send_weekly_digest(**context: Any) -> Any:
    from airflow.sdk.exceptions import AirflowSkipException

    when = context.get("logical_date") or context["dag_run"].run_after
    if when.weekday() != 0:
        raise AirflowSkipException(f"weekly digest goes out on Mondays; {when:%A %Y-%m-%d} is not one")
    return _jobs().send_digest("weekly")


def run_send_approval_reminders(**context: Any) -> Any:
    return _jobs().send_approval_reminders()


def build_notify_dag() -> DAG:
    with DAG(
        dag_id=DAG_ID,
        description="Slack: provider health, daily/weekly digests, approval reminders",
        doc_md=__doc__,
        schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable(CALENDAR, timezone="UTC"), assets=TILES),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(minutes=30),
        default_args=default_args(execution_timeout=timedelta(minutes=10), retries=3),
        deadline=late_run_alert(DAG_ID, timedelta(minutes=45)),
        tags=["notify", "slack"],
    ) as dag:
        check_provider_health = PythonOperator(task_id="check_provider_health", python_callable=run_check_provider_health)
        send_daily_digest = PythonOperator(task_id="send_daily_digest", python_callable=run_send_daily_digest, trigger_rule="all_done")
        send_weekly_digest = PythonOperator(task_id="send_weekly_digest", python_callable=run_send_weekly_digest, trigger_rule="all_done")
        send_approval_reminders = PythonOperator(
            task_id="send_approval_reminders", python_callable=run_send_approval_reminders, trigger_rule="all_done"
        )
        # Health first: an alert about a broken provider should precede a digest built on its stale numbers;
        # "all_done" so a failing health check never suppresses the digest.
        check_provider_health >> [send_daily_digest, send_weekly_digest, send_approval_reminders]
    return dag
