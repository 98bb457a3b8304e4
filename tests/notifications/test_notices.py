"""Notices (`Alert(once=True)`): each key posted once ever, grouped when several arrive together, through re-runs,
crashes before delivery, and two processes posting the same facts at once."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from notifications import jobs
from notifications.alerts import Alert
from notifications.config import load_settings
from notifications.outbox import Store
from sandbox import slack


def notice(n: int) -> Alert:
    return Alert(key=f"test:breach:{n}", title=f"Breach on #{n}", summary="Breached 1 h ago", purpose="support",
                 details={"Priority": "high"}, once=True, group="SLA breaches", line=f"#{n} first reply · high")


def support(server: Any) -> list[str]:
    return [m["text"] for m in slack.messages(server.state, "support")]


def test_each_notice_posts_once_and_new_ones_group(fast_slack: Any) -> None:
    outcomes = jobs.post_notices([notice(1), notice(2), notice(3), notice(3)])
    assert [o.action for o in outcomes] == ["posted"] * 3
    messages = support(fast_slack)
    assert len(messages) == 1 and "3 new SLA breaches" in messages[0]
    assert all(f"#{n} first reply" in messages[0] for n in (1, 2, 3))

    assert [o.action for o in jobs.post_notices([notice(1), notice(2), notice(3)])] == ["skipped"] * 3
    assert len(support(fast_slack)) == 1

    jobs.post_notices([notice(2), notice(4)])
    messages = support(fast_slack)
    assert len(messages) == 2 and "Breach on #4" in messages[1] and "#2" not in messages[1]


def test_a_crash_before_delivery_loses_nothing_and_repeats_nothing(fast_slack: Any) -> None:
    settings = load_settings()
    store = Store(settings.state_path)
    from notifications import alerts

    alerts.post_notices(store, settings, [notice(7), notice(8)])  # recorded and queued, then the process "dies"
    assert support(fast_slack) == []
    jobs.post_notices([notice(7), notice(8)])  # the retry: nothing new to post, the queued message goes out
    jobs.flush_outbox()
    assert len(support(fast_slack)) == 1


def test_two_processes_posting_the_same_notices_post_one_message(fast_slack: Any) -> None:
    code = ("from tests.notifications.test_notices import notice\nfrom notifications import jobs\n"
            "jobs.post_notices([notice(n) for n in range(20, 30)])")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    messages = support(fast_slack)
    assert len(messages) == 1 and "10 new SLA breaches" in messages[0]
