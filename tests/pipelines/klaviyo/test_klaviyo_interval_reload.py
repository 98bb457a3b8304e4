"""A backfill reloads exactly its data interval: the records whose own cursor lies in `[start, end)` (campaigns
`updated_at`, flows and profiles `updated`, events `datetime`), skips the snapshots, and moves no cursor.

Expected records are computed from the sandbox world, never from the pipeline."""

from __future__ import annotations

import copy
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.common.storage import raw_db_path
from pipelines.klaviyo import settings
from pipelines.run import make_pipeline, run_provider
from sandbox.server import SandboxServer
from tests.helpers import raw_count, raw_query
from tests.sandbox.klaviyo import klaviyo_spec

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
PAGE = {"/api/events": 7, "/api/profiles": 1, "/api/campaigns": 1, "/api/flows": 1}
"""Small pages in the reload, so the request count shows that only the window's pages are read."""
BOUNDED_FIELDS = {"/api/events": "datetime", "/api/profiles": "updated", "/api/campaigns": "updated_at", "/api/flows": "updated"}


@dataclass
class Window:
    """The world's records whose cursor lies in [start, end), as of the world's `now`."""

    start: datetime
    end: datetime
    events: dict[str, Any]
    profiles: dict[str, Any]
    campaigns: set[str]
    flows: dict[str, Any]

    def rows(self) -> dict[str, int]:
        """What the reload must extract, per table (dlt reports only tables that got rows)."""
        counts = {
            "events": len(self.events),
            "profiles": len(self.profiles),
            "campaigns": len(self.campaigns),
            "campaign_messages": len(self.campaigns),
            "flows": len(self.flows),
            "flow_actions": sum(len(f.actions) for f in self.flows.values()),
            "flow_messages": sum(len(f.actions) for f in self.flows.values()),
        }
        return {table: n for table, n in counts.items() if n}


def in_world(sandbox: SandboxServer, start: datetime, end: datetime) -> Window:
    world = sandbox.world
    kw, now = world.extension("klaviyo"), world.now
    return Window(
        start,
        end,
        events={e.id: e for e in kw.visible_events(now) if e.metric in settings.EXTRACTED_METRICS and start <= e.datetime < end},
        profiles={p.id: p for p in kw.profiles if p.created <= now and start <= kw.profile_updated(p, now) < end},
        campaigns={c.id for c in kw.campaigns if c.created_at <= now and start <= c.updated_at(now) < end},
        flows={f.id: f for f in kw.flows if f.created <= now and start <= f.updated < end},
    )


def busy_past_day(sandbox: SandboxServer) -> Window:
    """The latest whole day, two or more days back, with a campaign send, profile changes and plenty of events."""
    today = sandbox.world.now.replace(hour=0, minute=0, second=0, microsecond=0)
    for back in range(2, 90):
        window = in_world(sandbox, today - back * DAY, today - (back - 1) * DAY)
        if window.campaigns and window.profiles and len(window.events) > 20:
            return window
    raise AssertionError("the small world has no busy day in the last 90 days")


def reload(window_start: datetime, window_end: datetime) -> Any:
    return run_provider("klaviyo", interval_start=window_start.isoformat(), interval_end=window_end.isoformat())


def saved_state() -> dict[str, Any]:
    """The per-resource state dlt committed with the data (incremental cursors, campaigns' hand-kept cursor)."""
    pipeline = make_pipeline("klaviyo")
    pipeline.sync_destination()
    return copy.deepcopy(pipeline.state.get("sources", {}).get("klaviyo", {}).get("resources", {}))


def delete_window(window: Window) -> dict[str, int]:
    """Lose the window's raw rows, as a bad manual fix or a lost partition would."""
    where = {"events": "datetime", "profiles": "updated", "campaigns": "updated_at"}
    deleted: dict[str, int] = {}
    con = duckdb.connect(str(raw_db_path("klaviyo")))
    try:
        con.execute(
            "delete from raw_klaviyo.campaign_messages where campaign_id in "
            "(select id from raw_klaviyo.campaigns where updated_at >= ? and updated_at < ?)",
            [window.start, window.end],
        )
        for table, column in where.items():
            condition = f"{column} >= ? and {column} < ?"
            deleted[table] = con.execute(f"select count(*) from raw_klaviyo.{table} where {condition}", [window.start, window.end]).fetchone()[0]
            con.execute(f"delete from raw_klaviyo.{table} where {condition}", [window.start, window.end])
    finally:
        con.close()
    return deleted


def loaded_ids(summary: Any, table: str) -> set[str]:
    """Ids of the rows a run wrote into `table` (merge stamps its load id on every row it touches)."""
    load_ids = ", ".join(f"'{i}'" for i in summary.load_info.loads_ids)
    if not load_ids or not raw_count("klaviyo", table):
        return set()
    return {r[0] for r in raw_query("klaviyo", f"select id from raw_klaviyo.{table} where _dlt_load_id in ({load_ids})")}


def requests_since(sandbox: SandboxServer, before: int) -> list[dict[str, Any]]:
    return list(sandbox.state.provider_store("klaviyo")["requests"])[before:]


def test_reload_restores_exactly_the_window_and_moves_no_cursor(
    klaviyo_env: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sandbox = klaviyo_env
    run_provider("klaviyo")
    state = saved_state()
    assert state["profiles"]["incremental"] and state["campaigns"]["last_updated_at"]
    window = busy_past_day(sandbox)
    # The profiles filter starts 1 s early (greater-than only): keep that second empty so the page count is exact.
    kw, now = sandbox.world.extension("klaviyo"), sandbox.world.now
    assert not any(window.start - timedelta(seconds=1) <= kw.profile_updated(p, now) < window.start for p in kw.profiles)
    deleted = delete_window(window)
    assert deleted == {"events": len(window.events), "profiles": len(window.profiles), "campaigns": len(window.campaigns)}
    members = raw_query("klaviyo", "select count(*), min(_dlt_load_id) from raw_klaviyo.group_members")
    counts = raw_query("klaviyo", "select count(*) from raw_klaviyo.group_profile_counts")

    stats, logged = sandbox.state.stats["klaviyo"], len(sandbox.state.provider_store("klaviyo")["requests"])
    by_route = Counter(stats.by_route)
    with monkeypatch.context() as patch:
        for path, size in PAGE.items():
            patch.setitem(settings.PAGE_SIZES, path, size)
        summary = reload(window.start, window.end)

    # Exactly the window's records were extracted (merge would hide extra rows, the extracted counts do not).
    assert summary.rows_extracted == window.rows()
    # ... and the deleted rows are back, equal to the world's.
    raw_events = raw_query("klaviyo", "select id, metric_name, profile_id, datetime, event_properties from raw_klaviyo.events "
                                      f"where datetime >= '{window.start}' and datetime < '{window.end}'")
    assert {(r[0], r[1], r[2], r[3]) for r in raw_events} == {(e.id, e.metric, e.profile_id, e.datetime) for e in window.events.values()}
    assert all(json.loads(r[4]) == window.events[r[0]].properties for r in raw_events)
    raw_profiles = raw_query("klaviyo", f"select id, email, updated from raw_klaviyo.profiles where updated >= '{window.start}' and updated < '{window.end}'")
    assert {(r[0], r[1], r[2]) for r in raw_profiles} == {(p.id, p.email, kw.profile_updated(p, now)) for p in window.profiles.values()}
    assert {r[0] for r in raw_query("klaviyo", f"select id from raw_klaviyo.campaigns where updated_at >= '{window.start}' and updated_at < '{window.end}'")} == window.campaigns
    assert raw_count("klaviyo", "campaign_messages") == raw_count("klaviyo", "campaigns")

    # Only the window's pages were read; the snapshots (lists, segments, counts, members) were not touched.
    sent = Counter(stats.by_route) - by_route
    events_per_metric = Counter(e.metric for e in window.events.values())
    expected = {
        "get_metrics": 1,  # metric ids for the per-metric event filters
        "get_campaigns": max(1, math.ceil(len(window.campaigns) / PAGE["/api/campaigns"])),
        "get_flows": 1,
        "get_events": sum(max(1, math.ceil(events_per_metric[m] / PAGE["/api/events"])) for m in settings.EXTRACTED_METRICS),
        "get_profiles": max(1, math.ceil(len(window.profiles) / PAGE["/api/profiles"])),
    }
    assert dict(sent) == expected
    assert summary.requests == sum(expected.values()) and stats.by_status.get(429, 0) == 0
    assert raw_query("klaviyo", "select count(*), min(_dlt_load_id) from raw_klaviyo.group_members") == members
    assert raw_query("klaviyo", "select count(*) from raw_klaviyo.group_profile_counts") == counts
    # Both bounds are in every query, with operators the spec allows for that endpoint.
    end = window.end.isoformat().replace("+00:00", "Z")
    for request in requests_since(sandbox, logged):
        path = request["path"].removeprefix("/klaviyo")
        if path in BOUNDED_FIELDS:
            text = request["query"]["filter"]
            assert f"less-than({BOUNDED_FIELDS[path]},{end})" in text, text
            allowed = klaviyo_spec.allowed_filters("get", path)
            for operator, field in re.findall(r"([a-z-]+)\(([a-z_.]+),", text):
                assert operator == "and" or operator in allowed[field], (path, operator, field)

    # The cursors did not move, and a second reload is idempotent.
    assert saved_state() == state
    totals = {t: raw_count("klaviyo", t) for t in ("events", "profiles", "campaigns", "campaign_messages")}
    again = reload(window.start, window.end)
    assert again.rows_extracted == window.rows()
    assert {t: raw_count("klaviyo", t) for t in totals} == totals
    assert saved_state() == state

    # The next scheduled run does exactly what it would have done without the reload: compare with a warehouse that
    # was loaded at the same moment and never reloaded.
    sandbox.world.advance(3)
    after = run_provider("klaviyo")
    monkeypatch.setenv("OPSDATA_DATA_DIR", str(tmp_path / "without_reload"))
    (tmp_path / "without_reload").mkdir()
    sandbox.world.advance(-3)
    run_provider("klaviyo")
    sandbox.world.advance(3)
    reference = run_provider("klaviyo")
    assert after.rows_extracted == reference.rows_extracted
    assert after.requests == reference.requests
    assert after.rows_extracted.get("events", 0) > 0


def test_start_is_inclusive_and_end_exclusive(klaviyo_env: SandboxServer) -> None:
    """A record whose cursor equals a window's start is reloaded, one that equals its end is not; all on a fresh
    warehouse, where the reloads must leave no cursor behind for the first normal run."""
    world = klaviyo_env.world
    kw, now = world.extension("klaviyo"), world.now
    profile = next(p for p in sorted(kw.profiles, key=lambda p: p.id) if p.suppressions and p.created <= now)
    event = next(e for e in kw.visible_events(now) if e.metric == "Placed Order" and e.datetime > world.start_time + 30 * DAY)
    campaign = next(c for c in kw.campaigns if c.send_time > world.start_time + 60 * DAY)
    flow = kw.flows[0]
    instants = {"profiles": (profile.id, kw.profile_updated(profile, now)), "events": (event.id, event.datetime),
                "campaigns": (campaign.id, campaign.updated_at(now)), "flows": (flow.id, flow.updated)}
    for table, (record_id, at) in instants.items():
        for start, end, included in ((at, at + HOUR, True), (at - HOUR, at, False)):
            summary = reload(start, end)
            window = in_world(klaviyo_env, start, end)
            assert summary.rows_extracted == window.rows(), (table, start, end)
            assert (record_id in loaded_ids(summary, table)) is included, (table, start, end)
    assert saved_state() == {}  # the reloads saved no cursor, not even an empty entry

    first = run_provider("klaviyo")  # behaves as a first full load
    visible = [e for e in kw.visible_events(now) if e.metric in settings.EXTRACTED_METRICS]
    assert first.rows_extracted["events"] == len(visible) == raw_count("klaviyo", "events")
    assert first.rows_extracted["profiles"] == sum(1 for p in kw.profiles if p.created <= now)
    assert first.rows_extracted["campaigns"] == sum(1 for c in kw.campaigns if c.created_at <= now)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval_start": "2026-10-05T00:00:00+00:00", "interval_end": "2026-10-05T00:00:00+00:00"}, "inverted"),
        ({"interval_start": "2026-10-06T00:00:00+00:00", "interval_end": "2026-10-05T00:00:00Z"}, "inverted"),
        ({"interval_start": "yesterday", "interval_end": "2026-10-05T00:00:00+00:00"}, "ISO 8601"),
        ({"interval_start": "2026-10-04T00:00:00+00:00", "interval_end": "2026-13-05T00:00:00+00:00"}, "ISO 8601"),
        ({"interval_start": "2026-10-04T00:00:00", "interval_end": "2026-10-05T00:00:00+00:00"}, "time zone"),
        ({"interval_start": "2026-10-04T00:00:00+00:00"}, "both"),
        ({"interval_end": "2026-10-05T00:00:00+00:00"}, "both"),
    ],
)
def test_bad_interval_fails_before_any_request(klaviyo_env: SandboxServer, options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_provider("klaviyo", **options)
    assert klaviyo_env.state.stats["klaviyo"].requests == 0


def test_klaviyo_opts_in_to_interval_reload() -> None:
    """What `dags/dagkit/extract.py` checks before it lets a backfill run."""
    from pipelines.registry import get_provider

    assert get_provider("klaviyo").interval_reload is True
