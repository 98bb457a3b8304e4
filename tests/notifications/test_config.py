"""Production configuration: environment variables and Airflow Connections, routing, and clear errors."""

from __future__ import annotations

import json

import pytest

from notifications.config import load_settings
from pipelines.common.config import ConfigurationError


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPSDATA_DATA_DIR", str(tmp_path))
    for name in ("SLACK_TRANSPORT", "SLACK_BOT_TOKEN", "SLACK_ROUTES", "SLACK_WEBHOOK_URL_OPS", "SLACK_ROUTE_OPS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_connections_give_webhooks_and_the_bot_token(production) -> None:  # type: ignore[no-untyped-def]
    production.setenv("AIRFLOW_CONN_SLACK_WEBHOOK_OPS", json.dumps(
        {"conn_type": "slackwebhook", "host": "https://hooks.slack.com/services", "password": "T0/B0/secret"}))
    production.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps({"conn_type": "slack", "password": "xoxb-from-connection"}))
    settings = load_settings()
    assert settings.webhook_for("#ops") == "https://hooks.slack.com/services/T0/B0/secret"
    assert settings.transport_for("#ops") == "webhook"
    assert settings.transport_for("#alerts") == "bot"  # no webhook for #alerts: the bot posts there
    assert settings.token() == "xoxb-from-connection"
    assert settings.api_base_url == "https://slack.com/api/"


def test_environment_wins_and_transport_can_be_forced(production) -> None:  # type: ignore[no-untyped-def]
    production.setenv("SLACK_WEBHOOK_URL_OPS", "https://hooks.slack.com/services/T1/B1/env")
    production.setenv("SLACK_BOT_TOKEN", "xoxb-env")
    production.setenv("SLACK_ROUTE_OPS", "#ops-daily")
    settings = load_settings()
    assert settings.channel_for("ops") == "#ops-daily"
    assert settings.webhook_for("#ops") == "https://hooks.slack.com/services/T1/B1/env"
    production.setenv("SLACK_TRANSPORT", "bot")
    assert load_settings().transport_for("#ops") == "bot"


def test_nothing_configured_is_a_clear_error(production) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings()
    with pytest.raises(ConfigurationError, match="SLACK_WEBHOOK_URL_OPS .* SLACK_BOT_TOKEN"):
        settings.transport_for("#ops")
    production.setenv("SLACK_TRANSPORT", "carrier-pigeon")
    with pytest.raises(ConfigurationError, match="SLACK_TRANSPORT"):
        load_settings()
    production.setenv("SLACK_TRANSPORT", "webhook")
    production.setenv("SLACK_ROUTES", "[1, 2]")
    with pytest.raises(ConfigurationError, match="SLACK_ROUTES must be a JSON object"):
        load_settings()


def test_secrets_are_masked_in_logs(production, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    production.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret-token-123")
    load_settings()
    logging.getLogger("opsdata.notifications").warning("token is xoxb-very-secret-token-123")
    assert "token is" in caplog.text and "xoxb-very-secret-token-123" not in caplog.text
