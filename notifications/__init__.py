"""What ops people see in Slack: alerts (incidents), daily/weekly digests and approval reminders.

Modules: `config` (routing by purpose, credentials), `outbox` (durable exactly-once state), `delivery` (slack-sdk,
1 message/s/channel), `blocks` (Block Kit, limits, money), `digest`, `alerts`, `approvals`, `health`, `jobs` (what
the notify DAG calls) and `airflow` (the task-level notifiers). `python -m notifications preview daily` renders a
message without posting it.
"""
