"""Delivery against the Slack sandbox: pace per channel (threads and processes), 429 + Retry-After, transient and
permanent errors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from notifications import jobs
from notifications.alerts import Alert
from notifications.delivery import DeliveryError
from notifications.outbox import Message
from sandbox import slack


def received(server: Any, channel: str) -> list[dict[str, Any]]:
    return slack.messages(server.state, channel)


def gaps(messages: list[dict[str, Any]]) -> list[float]:
    times = [m["received_at"] for m in messages]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def fire(n: int, prefix: str, purpose: str = "alerts") -> Any:
    return jobs.report_alert(Alert(key=f"{prefix}:{n}", title=f"{prefix} problem {n}", purpose=purpose))


def test_fifty_alerts_at_once_are_all_delivered_at_the_channel_pace(fast_slack) -> None:  # type: ignore[no-untyped-def]
    # 40 to #alerts and 10 to #support, fired from 50 threads at once; pace compressed 10x (0.1 s) on both sides.
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(lambda n: fire(n, "burst", "support" if n % 5 == 0 else "alerts"), range(50)))
    elapsed = time.monotonic() - started
    assert {o.action for o in outcomes} == {"opened"}
    alerts, support = received(fast_slack, "alerts"), received(fast_slack, "support")
    assert len(alerts) == 40 and len(support) == 10
    assert sorted(m["text"].split("problem ")[1].split("\n")[0] for m in alerts + support) == sorted(str(n) for n in range(50))
    for channel in (alerts, support):
        assert min(gaps(channel)) >= 0.1 * 0.98  # never faster than the channel allows
    assert fast_slack.state.stats["slack"].throttled == 0  # paced client-side: Slack never had to push back
    assert elapsed >= 39 * 0.1  # 40 messages in one channel cannot arrive faster


def test_processes_share_the_channel_pace(fast_slack, warehouse) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys\nfrom notifications import jobs\nfrom notifications.alerts import Alert\n"
        "for n in range(4):\n"
        "    jobs.report_alert(Alert(key=f'proc{sys.argv[1]}:{n}', title=f'p{sys.argv[1]} n{n}'))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(p)], env=env) for p in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    alerts = received(fast_slack, "alerts")
    assert len(alerts) == 12
    assert min(gaps(alerts)) >= 0.1 * 0.98
    assert fast_slack.state.stats["slack"].throttled == 0


def test_real_pace_is_one_message_per_second_per_channel(slack_env) -> None:  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(lambda n: fire(n, "pace", "ops" if n >= 3 else "alerts"), range(5)))
    alerts, ops = received(slack_env, "alerts"), received(slack_env, "ops")
    assert len(alerts) == 3 and len(ops) == 2
    assert min(gaps(alerts) + gaps(ops)) >= 1.0
    assert slack_env.state.stats["slack"].throttled == 0


@pytest.mark.parametrize("transport", ["webhook", "bot"])
def test_429_with_retry_after_delays_and_does_not_drop(slack_env, monkeypatch, transport) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SLACK_TRANSPORT", transport)
    slack_env.state.add_fault("slack", "429", count=1, retry_after=2)
    started = time.monotonic()
    outcome = fire(1, "throttled")
    waited = time.monotonic() - started
    assert outcome.action == "opened"
    assert len(received(slack_env, "alerts")) == 1
    assert waited >= 2.0  # slept the Retry-After
    assert slack_env.state.stats["slack"].by_status[429] == 1


def test_transient_errors_are_retried_and_kept_until_delivered(slack_env) -> None:  # type: ignore[no-untyped-def]
    slack_env.state.add_fault("slack", "5xx", count=1, status=503)
    fire(1, "flaky")  # one 503: slack-sdk's server-error handler retries it
    assert len(received(slack_env, "alerts")) == 1
    slack_env.state.add_fault("slack", "5xx", count=20, status=503)
    with pytest.raises(DeliveryError) as failure:
        fire(2, "flaky")
    assert not failure.value.permanent
    store, _ = jobs.context()
    assert [m.status for m in store.messages() if m.key != "alert:1:opened"] == ["pending"]
    slack_env.state.clear_faults()
    jobs.flush_outbox()  # the next run (or a task retry) delivers it, once
    assert len(received(slack_env, "alerts")) == 2
    jobs.flush_outbox()
    assert len(received(slack_env, "alerts")) == 2


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("transport", ["webhook", "bot"])
def test_read_timeout_is_resolved_exactly_once_by_the_bot_at_least_once_by_a_webhook(slack_env, monkeypatch, transport) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SLACK_TRANSPORT", transport)
    monkeypatch.setenv("SLACK_TIMEOUT_SECONDS", "1")
    slack_env.state.add_fault("slack", "slow", count=1, path_contains="chat.postMessage" if transport == "bot" else "services", seconds=2)
    with pytest.raises(DeliveryError) as timed_out:
        fire(1, "slow")  # Slack is slow to answer: it may or may not have posted
    assert not timed_out.value.permanent  # kept pending for the retry
    monkeypatch.setenv("SLACK_TIMEOUT_SECONDS", "60")  # the retries must not time out on a busy machine
    jobs.flush_outbox()
    jobs.flush_outbox()
    store, _ = jobs.context()
    (message,) = store.messages()
    assert message.status == "sent"
    posted = received(slack_env, "alerts")
    if transport == "bot":
        # the bot asks the channel history (metadata carries the key): found, not re-sent
        assert len(posted) == 1
    else:
        # a webhook cannot be asked: re-sent rather than lost (a second copy if the first got through), and every copy
        # says which message it is
        assert 1 <= len(posted) <= 2
        assert all(m["text"].endswith("ref alert:1:opened") for m in posted)


def test_revoked_webhook_fails_clearly(slack_env) -> None:  # type: ignore[no-untyped-def]
    slack.revoke_webhook(slack_env.state, "alerts")
    handler = Collect()  # on the logger itself: Airflow's logging setup may not propagate to pytest's caplog
    logging.getLogger("opsdata.notifications").addHandler(handler)
    try:
        with pytest.raises(DeliveryError) as failure:
            fire(1, "revoked")
    finally:
        logging.getLogger("opsdata.notifications").removeHandler(handler)
    assert failure.value.permanent
    assert "403 invalid_token" in str(failure.value) and "revoked" in str(failure.value)
    assert any("invalid_token" in r.getMessage() for r in handler.records)  # the task log says why
    store, _ = jobs.context()
    (message,) = store.messages()
    assert message.status == "failed" and "invalid_token" in (message.error or "")
    jobs.flush_outbox()  # a permanent failure is not retried blindly
    assert received(slack_env, "alerts") == []
    # an admin re-creates the webhook; the operator requeues the message and it goes out, once
    slack.store(slack_env.state).revoked_hooks.clear()
    from notifications.__main__ import main

    assert main(["requeue", message.key]) == 0
    assert main(["flush"]) == 0
    assert main(["flush"]) == 0
    assert len(received(slack_env, "alerts")) == 1
    assert store.get(message.key).status == "sent"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("env", "error"),
    [({"SLACK_BOT_TOKEN": "xoxb-revoked"}, "invalid_auth"), ({"SLACK_ROUTE_ALERTS": "#no-such-channel"}, "channel_not_found")],
)
def test_bot_permanent_errors(slack_env, monkeypatch, env, error) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SLACK_TRANSPORT", "bot")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(DeliveryError, match=error) as failure:
        fire(1, "bot")
    assert failure.value.permanent


def test_bot_transport_posts_with_idempotency_metadata(slack_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SLACK_TRANSPORT", "bot")
    fire(1, "meta")
    (message,) = received(slack_env, "alerts")
    assert message["via"] == "api"
    assert message["metadata"] == {"event_type": "opsdata_notification", "event_payload": {"key": "alert:1:opened"}}
    store, _ = jobs.context()
    assert store.get("alert:1:opened").ts == message["ts"]  # type: ignore[union-attr]


def test_no_route_is_a_clear_configuration_error(slack_env) -> None:  # type: ignore[no-untyped-def]
    from pipelines.common.config import ConfigurationError

    with pytest.raises(ConfigurationError, match="SLACK_ROUTE_BILLING"):
        jobs.report_alert(Alert(key="x", title="x", purpose="billing"))


def test_message_model_round_trips(slack_env) -> None:  # type: ignore[no-untyped-def]
    store, _ = jobs.context()
    assert store.enqueue(Message("k1", "ops", "#ops", "hello", [{"type": "divider"}]))
    assert not store.enqueue(Message("k1", "ops", "#ops", "changed"))  # same key: ignored
    assert store.get("k1").text == "hello"  # type: ignore[union-attr]
