"""SLA breaches to #support: each breach the export shows (on a ticket that counts) is posted once, grouped; re-runs,
later exports and a crash between queueing and posting never post one twice."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest

from notifications import jobs
from pipelines.run import run_provider
from tests.pipelines.zendesk.support import expected_breach_keys, newest_change, posted_keys, prepare, support_texts

LOOKBACK_HOURS = 24 * 45


@pytest.fixture
def desk(sandbox_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    prepare(sandbox_env, monkeypatch, LOOKBACK_HOURS)
    return sandbox_env


def test_new_breaches_post_once_grouped_and_are_never_reposted(desk: Any) -> None:
    world = desk.world
    run_provider("zendesk")
    first_window = expected_breach_keys(world, newest_change(world) - timedelta(hours=LOOKBACK_HOURS))
    assert len(first_window) >= 2  # otherwise the grouping below proves nothing
    jobs.report_provider_alerts("zendesk")
    texts = support_texts(desk)
    assert len(texts) == 1 and f"{len(first_window)} new SLA breaches" in texts[0]
    assert set(posted_keys()) == first_window

    run_provider("zendesk")  # the export finds the same breaches again
    jobs.report_provider_alerts("zendesk")
    assert len(support_texts(desk)) == 1

    world.advance(5)
    run_provider("zendesk")
    jobs.report_provider_alerts("zendesk")
    window = expected_breach_keys(world, newest_change(world) - timedelta(hours=LOOKBACK_HOURS))
    new = window - first_window
    keys = posted_keys()
    assert len(keys) == len(set(keys)) and set(keys) == first_window | window
    texts = support_texts(desk)
    assert len(texts) == (2 if new else 1)
    if len(new) > 1:
        assert f"{len(new)} new SLA breaches" in texts[-1]


def test_breaches_of_deleted_merged_or_spam_tickets_are_never_posted(desk: Any) -> None:
    run_provider("zendesk")
    jobs.report_provider_alerts("zendesk")
    zw = desk.world.extension("zendesk")
    excluded = {t.id for t in zw.tickets if t.excluded(desk.world.now)}
    excluded_with_breaches = {t.id for t in zw.tickets if t.id in excluded and any(i.breach_at for i in t.sla_instances)}
    posted_tickets = {int(k.split(":")[2]) for k in posted_keys()}
    assert not posted_tickets & excluded
    assert excluded_with_breaches or excluded  # the world does have such tickets


CRASH_BEFORE_POST = """
import os
from notifications import jobs
jobs.deliver = lambda *a, **k: os._exit(3)   # queued with its notice keys, then the task dies before posting
jobs.report_provider_alerts("zendesk")
"""


def test_a_crash_after_queueing_posts_exactly_once_on_retry(desk: Any) -> None:
    run_provider("zendesk")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    assert subprocess.run([sys.executable, "-c", CRASH_BEFORE_POST], env=env, timeout=180).returncode == 3
    assert support_texts(desk) == []
    jobs.report_provider_alerts("zendesk")  # the retry finds nothing new, and delivers what was queued
    assert len(support_texts(desk)) == 1
    jobs.report_provider_alerts("zendesk")
    assert len(support_texts(desk)) == 1
