"""Registry entries for what is not an extraction provider: Slack (a destination we only post to) and the
merchant's approval queue (an internal queue the notify DAG reads). Light on purpose: the registry imports this
module at DAG-parse time.

Slack's per-channel incoming webhooks (`SLACK_WEBHOOK_URL_<CHANNEL>`, or the Connection `slack_webhook_<channel>`)
are named per channel, so they are resolved in `notifications/config.py` rather than declared here.
"""

from __future__ import annotations

from typing import Any

from pipelines.contract import AirflowConnection, Credential, Destination, Queue


def _slack_bot(conn: Any) -> dict[str, str]:
    return {"bot_token": conn.password or ""}


def _approvals(conn: Any) -> dict[str, str]:
    return {"url": conn.host or "", "token": conn.password or ""}


SLACK = Destination(
    name="slack",
    description="Slack: where summaries and alerts go",
    credentials=(
        Credential("bot_token", "SLACK_BOT_TOKEN", required=False, doc="bot token for chat.postMessage"),
        Credential("api_url", "SLACK_API_URL", secret=False, required=False, doc="default https://slack.com/api/"),
    ),
    connection=AirflowConnection(
        "slack_api_default", _slack_bot, doc="bot token for chat.postMessage",
        example={"conn_type": "slack", "password": "xoxb-xxxxxxxxxxxx-xxxxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx"},
    ),
    other_connections=(
        AirflowConnection(
            "slack_webhook_ops", lambda conn: {}, doc="one incoming webhook per channel: slack_webhook_<channel>",
            example={"conn_type": "slackwebhook", "password": "https://hooks.slack.com/services/T000/B000/xxxxxxxxxxxxxxxxxxxxxxxx"},
        ),
    ),
    sandbox="sandbox.slack",
)

APPROVALS = Queue(
    name="approvals",
    description="Merchant approval queue (pending operator actions)",
    credentials=(
        Credential("url", "APPROVALS_URL", secret=False, required=False, doc="the queue's HTTP JSON endpoint"),
        Credential("token", "APPROVALS_TOKEN", required=False, doc="bearer token"),
    ),
    connection=AirflowConnection(
        "approvals_api", _approvals, doc="host = the queue's URL, password = bearer token",
        example={"conn_type": "http", "host": "https://ops.example.com/v1/approvals", "password": "xxxxxxxxxxxxxxxx"},
    ),
    sandbox="sandbox.approvals",
)
