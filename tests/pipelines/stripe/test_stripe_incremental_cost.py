"""Incremental cost in proportion to change (issue 16): a changed object is fetched once however many events name it
(and not again when a list already returned it), and many changes re-list by `created` instead of one GET each,
ending with the same rows and statuses as a full load. Expected values come from the sandbox world."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from pipelines.run import run_provider
from pipelines.stripe import helpers, settings

from .test_stripe_pipeline import assert_matches_world, raw

PATHS = {kind: path for kind, path in settings.OBJECT_TYPES.items()}  # event `kind` -> list path
STATUS_TABLES = ("subscriptions", "invoices", "charges", "payouts", "disputes", "refunds")


@pytest.fixture(autouse=True)
def fast_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_RATE_LIMIT_PER_SECOND", "1000")


class Fetches:
    """Every object the client receives from a list page or a retrieve, counted per (path, id)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.objects: Counter[tuple[str, str]] = Counter()
        self.requests: Counter[str] = Counter()
        original = helpers.get

        def recording(client: Any, url: str, params: dict[str, Any]) -> dict[str, Any]:
            answer = original(client, url, params)
            parts = url.split("/")  # /v1/<path>[/<id>[/lines]]
            path = parts[2]
            if path not in settings.LISTS or url.endswith("/lines"):
                return answer
            if len(parts) == 3:
                self.requests[f"{path}:list"] += 1
                for obj in answer["data"]:
                    self.objects[(path, obj["id"])] += 1
            else:
                self.requests[f"{path}:retrieve"] += 1
                self.objects[(path, parts[3])] += 1
            return answer

        monkeypatch.setattr(helpers, "get", recording)


def changed_between(sw: Any, start: int, end: int) -> Counter[tuple[str, str]]:
    """(list path, id) of every object events in `(start, end]` name, with how many events name it."""
    return Counter((PATHS[e.kind], e.object_id) for e in sw.events if start < e.created <= end and e.kind in PATHS)


def statuses() -> dict[str, dict[str, Any]]:
    return {t: dict(raw(f"select id, status from raw_stripe.{t}")) for t in STATUS_TABLES}


def test_an_object_named_by_several_events_or_also_listed_is_fetched_once(
    sandbox_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sw = sandbox_env.world.extension("stripe")
    run_provider("stripe")
    before = sw.now
    sandbox_env.world.advance(7)
    changed = changed_between(sw, before, sw.now)
    assert any(n >= 2 for n in changed.values()), "some object should be named by several events"
    created_since = {
        (p, oid) for p in settings.LISTS for oid, o in getattr(sw, p).items() if before < helpers_created(o) <= sw.now
    }
    assert created_since & set(changed), "some new object should also be named by events"
    fetches = Fetches(monkeypatch)
    run_provider("stripe")
    assert_matches_world(sw)
    twice = {key: n for key, n in fetches.objects.items() if n > 1}
    assert not twice, f"fetched more than once: {sorted(twice.items())[:5]}"
    assert set(changed) <= set(fetches.objects) | {k for k in changed if k[0] not in settings.LISTS}


def helpers_created(obj: Any) -> int:
    return int(obj["created"] if isinstance(obj, dict) else obj.created)


def test_many_changes_re_list_by_created_and_end_as_a_full_load(sandbox_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sw = sandbox_env.world.extension("stripe")
    run_provider("stripe")
    before = sw.now
    sandbox_env.world.advance(25)  # most active subscriptions renew: many old objects change
    changed = changed_between(sw, before, sw.now)
    old_subscriptions = {
        oid for (path, oid) in changed if path == "subscriptions" and sw.subscriptions[oid].created <= before
    }
    assert len(old_subscriptions) >= 12, "the world should change many subscriptions created before the last load"
    fetches = Fetches(monkeypatch)
    run_provider("stripe")
    # Fewer requests than one GET per changed subscription, and no subscription fetched twice.
    used = fetches.requests["subscriptions:list"] + fetches.requests["subscriptions:retrieve"]
    assert used < len(old_subscriptions) / 4, fetches.requests
    assert max(n for (path, _), n in fetches.objects.items() if path == "subscriptions") == 1
    assert_matches_world(sw)
    incremental = statuses()
    run_provider("stripe", mode="full")
    assert statuses() == incremental
    for table in STATUS_TABLES:
        rows = raw(f"select count(*), count(distinct id) from raw_stripe.{table}")[0]
        assert rows[0] == rows[1], f"{table}: duplicate ids"


def test_a_run_of_the_events_alone_still_refreshes_what_they_name(sandbox_env: Any) -> None:
    """The lists refresh their own changed objects; when a run selects only `events`, it refreshes them itself, or
    the advanced events cursor would leave those rows stale."""
    sw = sandbox_env.world.extension("stripe")
    run_provider("stripe")
    first_fetch = raw("select max(_fetched_at) from raw_stripe.subscriptions")[0][0]
    before = sw.now
    sandbox_env.world.advance(7)
    changed = changed_between(sw, before, sw.now)
    subscriptions = {oid for path, oid in changed if path == "subscriptions" and sw.subscriptions[oid].created <= before}
    assert subscriptions
    run_provider("stripe", resources=["events"])
    now = sw.now
    loaded = {r[0]: r[1:] for r in raw("select id, status, _fetched_at from raw_stripe.subscriptions")}
    for oid in subscriptions:
        status, fetched = loaded[oid]
        assert fetched > first_fetch, f"{oid} was not refreshed"
        assert status == sw.subscriptions[oid].at(now).status, oid
