"""Fixtures for the notification tests: sandbox mode with the Slack sandbox, and tile tables built from the world."""

from __future__ import annotations

import pytest

from sandbox import slack


@pytest.fixture
def slack_env(sandbox_env, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Sandbox mode, Slack's real pace (1 message/s/channel on both sides), a fresh outbox in the test's data dir."""
    for name in ("SLACK_TRANSPORT", "SLACK_ROUTES", "SLACK_MIN_INTERVAL_SECONDS", "OPSDATA_AS_OF_DATE"):
        monkeypatch.delenv(name, raising=False)
    return sandbox_env


@pytest.fixture
def fast_slack(slack_env, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Slack's 1 s per channel compressed 10x on both sides (sandbox and client), for the many-message tests."""
    slack.set_min_interval(slack_env.state, 0.1)
    monkeypatch.setenv("SLACK_MIN_INTERVAL_SECONDS", "0.1")
    return slack_env

