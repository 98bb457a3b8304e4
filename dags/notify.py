"""Airflow DAG `notify`: Slack digests, approval reminders and provider health, on new tiles and on a daily calendar."""

from dagkit.notify import build_notify_dag

notify = build_notify_dag()
