"""Stripe interval reload (Airflow backfills): one interval re-read exactly, with the dlt cursors and the webhook inbox
left alone, so the next incremental run behaves as if the reload never happened. Expected values come from the
sandbox world, not from the pipeline."""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.common.storage import raw_db_path
from pipelines.run import SYNC_MARK_KEY, make_pipeline, run_provider
from pipelines.stripe import settings
from sandbox.server import SandboxServer
from sandbox.stripe.render import invoice_status
from sandbox.stripe.webhooks import event_payload
from webhooks.inbox import Inbox, default_path

DAY = 86400
LISTS = {path: table for path, (table, _mutable) in settings.LISTS.items()}  # world attribute -> raw table
PATHS = {kind: path for kind, path in settings.OBJECT_TYPES.items()}  # event `kind` -> list path
RETENTION_WARNING = "before the oldest event Stripe still keeps"


@pytest.fixture(autouse=True)
def fast_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in the other Stripe tests: client and simulator read the same setting.
    monkeypatch.setenv("STRIPE_RATE_LIMIT_PER_SECOND", "1000")


# --- ground truth from the world ----------------------------------------------------------------------------------


def _created(obj: Any) -> int:
    return int(obj["created"] if isinstance(obj, dict) else obj.created)


def created_in(sw: Any, start: int, end: int) -> dict[str, set[str]]:
    """Per list path: the ids of the objects created in `[start, end)` (and visible now)."""
    return {
        path: {
            oid for oid, obj in getattr(sw, path).items() if start <= _created(obj) < end and _created(obj) <= sw.now
        }
        for path in LISTS
    }


def events_in(sw: Any, start: int, end: int) -> list[Any]:
    """The events Stripe lists for `[start, end)`: created in it, not in the future, not past the 30-day retention."""
    oldest = sw.now - settings.EVENT_RETENTION_DAYS * DAY
    return [e for e in sw.events if start <= e.created < end and oldest <= e.created <= sw.now]


def named_by(events: list[Any]) -> dict[str, set[str]]:
    """Per list path: the objects those events name (what the reload refetches)."""
    named: dict[str, set[str]] = {path: set() for path in LISTS}
    for event in events:
        if event.kind in PATHS:
            named[PATHS[event.kind]].add(event.object_id)
    return named


def busiest_day(sw: Any, days_back: range) -> tuple[int, int]:
    """The UTC day (midnight to midnight) among `days_back` on which objects were created in the most lists."""
    today = sw.now - sw.now % DAY

    def score(start: int) -> tuple[int, int]:
        ids = created_in(sw, start, start + DAY)
        return sum(1 for v in ids.values() if v), sum(len(v) for v in ids.values())

    start = max((today - n * DAY for n in days_back), key=score)
    return start, start + DAY


# --- the raw file -------------------------------------------------------------------------------------------------


def raw(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(raw_db_path("stripe")), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def raw_ids_created_in(start: int, end: int) -> dict[str, set[str]]:
    """Per list path: the ids in its raw table created in `[start, end)` (a table no load created yet is empty)."""
    tables = {r[0] for r in raw("select table_name from information_schema.tables where table_schema = 'raw_stripe'")}
    sql = "select id from raw_stripe.{} where created >= ? and created < ?"
    return {
        path: {r[0] for r in raw(sql.format(table), [start, end])} if table in tables else set()
        for path, table in LISTS.items()
    }


def delete_created_in(start: int, end: int) -> dict[str, int]:
    """Lose the interval's rows (and their invoice lines), as a bad manual fix or a lost partition would."""
    deleted: dict[str, int] = {}
    with duckdb.connect(str(raw_db_path("stripe"))) as con:
        con.execute(
            "delete from raw_stripe.invoices__lines__data where _dlt_root_id in "
            "(select _dlt_id from raw_stripe.invoices where created >= ? and created < ?)",
            [start, end],
        )
        for path, table in LISTS.items():
            where = f"from raw_stripe.{table} where created >= ? and created < ?"
            deleted[path] = con.execute(f"select count(*) {where}", [start, end]).fetchone()[0]  # type: ignore[index]
            con.execute(f"delete {where}", [start, end])
    return deleted


def stripe_state() -> tuple[str, int]:
    """The source's dlt state (every cursor, the inbox sequence) as committed in the raw file, and its version;
    without the time an incremental run stamps (`sync_mark`), which differs between any two runs."""
    pipeline = make_pipeline("stripe")
    pipeline.sync_destination()
    state = pipeline.state
    cursors = {k: v for k, v in state.get("sources", {}).get("stripe", {}).items() if k != SYNC_MARK_KEY}
    return json.dumps(cursors, sort_keys=True), int(state["_state_version"])


def counters(sandbox: SandboxServer) -> Counter[str]:
    """The simulator's request counters (`route:<r>`, `objects:<list>`, `requests`), to diff around one run."""
    stats = sandbox.state.stats["stripe"]
    routes = {f"route:{route}": n for route, n in stats.by_route.items()}
    return Counter({"requests": stats.requests, **routes, **stats.extra})


def iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


# --- tests --------------------------------------------------------------------------------------------------------


def test_reload_restores_one_day_exactly_and_leaves_cursors_and_inbox_alone(
    sandbox_env: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sw = sandbox_env.world.extension("stripe")
    run_provider("stripe")
    loaded_at = sw.now
    totals = {path: len(ids) for path, ids in raw_ids_created_in(0, loaded_at + 1).items()}
    # Three days pass: the webhook receiver stores their events, the next incremental run has work to do.
    sandbox_env.world.advance(3)
    inbox = Inbox(default_path())
    for event in sw.events:
        if loaded_at < event.created <= sw.now:
            inbox.add("stripe", event.id, event.type, event.created, event_payload(sw, event.id).decode())
    assert inbox.count("stripe") > 0

    start, end = busiest_day(sw, range(5, 26))  # a past day, well inside the 30-day event retention
    expected = created_in(sw, start, end)
    window_events = events_in(sw, start, end)
    named = named_by(window_events)
    assert sum(1 for ids in expected.values() if ids) >= 4, "the chosen day should touch several lists"
    # The raw file held exactly the world's objects of that day; lose them.
    assert delete_created_in(start, end) == {path: len(ids) for path, ids in expected.items()}
    assert all(not ids for ids in raw_ids_created_in(start, end).values())

    state_before = stripe_state()
    inbox_before = inbox.count("stripe")
    raw_dir, inbox_dir, backup = raw_db_path("stripe").parent, default_path().parent, tmp_path / "backup"
    shutil.copytree(raw_dir, backup / "raw")
    shutil.copytree(inbox_dir, backup / "webhooks")
    before = counters(sandbox_env)

    with caplog.at_level(logging.WARNING, logger="opsdata.stripe"):
        summary = run_provider("stripe", interval_start=iso(start), interval_end=iso(end))
    used = counters(sandbox_env) - before

    # The day is back, equal to the world's objects created in it, as they are now; nothing else changed.
    assert raw_ids_created_in(start, end) == expected
    assert {path: len(ids) for path, ids in raw_ids_created_in(0, loaded_at + 1).items()} == totals
    for table in LISTS.values():
        rows = raw(f"select id from raw_stripe.{table}")
        assert len(rows) == len({r[0] for r in rows}), f"{table}: duplicate ids"
    invoices = dict(raw("select id, status from raw_stripe.invoices where created >= ? and created < ?", [start, end]))
    assert invoices == {i: invoice_status(sw.invoices[i], sw.now) for i in expected["invoices"]}
    lines = raw(
        "select count(*) from raw_stripe.invoices__lines__data l join raw_stripe.invoices i on l._dlt_root_id = i._dlt_id"
        " where i.created >= ? and i.created < ?",
        [start, end],
    )[0][0]
    assert lines == sum(len(sw.invoices[i].lines) for i in expected["invoices"])

    # Read: exactly the day's objects from each list, the day's events, one GET per object they name. Nothing else:
    # every request is a list page, a retrieve or invoice lines (no account lookup, no events-cursor check).
    for path, table in LISTS.items():
        assert used[f"objects:{path}"] == len(expected[path]), f"{path}: listed objects outside the interval"
        assert used[f"route:{path}"] == 1, f"{path}: one page holds a day"
        assert summary.rows_extracted.get(table, 0) == len(expected[path]) + len(named[path]), table
    assert summary.rows_extracted["events"] == len(window_events)
    assert used["objects:events"] == len(window_events) + 1  # + the retention probe's one older event
    assert used["route:events"] == 2
    assert sum(used[f"route:{path}/retrieve"] for path in LISTS) == sum(len(ids) for ids in named.values())
    assert used["requests"] == summary.requests == sum(n for key, n in used.items() if key.startswith("route:"))
    assert not any(RETENTION_WARNING in r.getMessage() for r in caplog.records)

    # State untouched: the cursors and inbox sequence are byte-identical and no new state version was written;
    # the inbox was neither drained nor pruned.
    assert stripe_state() == state_before
    assert inbox.count("stripe") == inbox_before
    assert raw("select count(*) from raw_stripe.events where _received_via = 'webhook'")[0][0] == 0

    # The next incremental run does exactly what it would have done without the reload ...
    before = counters(sandbox_env)
    after_reload = run_provider("stripe")
    routes_after_reload = counters(sandbox_env) - before
    state_after_reload = stripe_state()
    for saved, live in ((backup / "raw", raw_dir), (backup / "webhooks", inbox_dir)):  # back to just before the reload
        shutil.rmtree(live)
        shutil.copytree(saved, live)
    before = counters(sandbox_env)
    without_reload = run_provider("stripe")
    assert counters(sandbox_env) - before == routes_after_reload
    assert without_reload.rows_extracted == after_reload.rows_extracted
    assert '"inbox_seq"' in state_after_reload[0] and '"inbox_seq"' not in state_before[0]  # the inbox was drained
    assert stripe_state() == state_after_reload
    # ... which could not have repaired the lost day by itself.
    still_missing = {path: expected[path] - ids for path, ids in raw_ids_created_in(start, end).items()}
    assert any(still_missing.values())


def test_reload_past_event_retention_warns_still_reloads_the_lists_and_writes_no_cursor(
    sandbox_env: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    sw = sandbox_env.world.extension("stripe")
    today = sw.now - sw.now % DAY
    start, end = today - 60 * DAY, today - 53 * DAY  # a week Stripe no longer has events for
    expected = created_in(sw, start, end)
    assert sum(len(ids) for ids in expected.values()) > 0 and events_in(sw, start, end) == []
    before = counters(sandbox_env)

    with caplog.at_level(logging.WARNING, logger="opsdata.stripe"):
        summary = run_provider("stripe", interval_start=iso(start), interval_end=iso(end))
    used = counters(sandbox_env) - before

    assert any(RETENTION_WARNING in r.getMessage() and iso(start) in r.getMessage() for r in caplog.records)
    assert raw_ids_created_in(0, sw.now + 1) == expected  # into an empty warehouse: that week, nothing else
    assert summary.rows_extracted.get("events", 0) == 0
    assert not any(key.endswith("/retrieve") for key in used)
    assert used["route:events"] == 2  # the retention probe and one (empty) page
    # No cursor was written, so the first scheduled run is still a full load.
    state, _version = stripe_state()
    assert "cursor" not in state and "inbox_seq" not in state
    run_provider("stripe")
    everything = created_in(sw, 0, sw.now + 1)
    assert raw_ids_created_in(0, sw.now + 1) == everything


GOOD = {"interval_start": "2026-10-05T00:00:00+00:00", "interval_end": "2026-10-06T00:00:00+00:00"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({**GOOD, "mode": "reconcile"}, "cannot be combined"),
        ({**GOOD, "mode": "full"}, "cannot be combined"),
        ({"interval_start": GOOD["interval_start"]}, "interval_end is missing"),
        ({"interval_end": GOOD["interval_end"]}, "interval_start is missing"),
        ({**GOOD, "interval_start": "yesterday"}, "not an ISO 8601 timestamp"),
        ({**GOOD, "interval_end": 1_791_244_800}, "not an ISO 8601 timestamp"),
        ({**GOOD, "interval_start": "2026-10-05T00:00:00"}, "no time zone"),
        ({**GOOD, "interval_end": GOOD["interval_start"]}, "empty or inverted"),
        ({**GOOD, "interval_start": "2026-10-07T00:00:00+00:00"}, "empty or inverted"),
    ],
)
def test_bad_interval_options_fail_clearly_before_any_request(
    sandbox_env: SandboxServer, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        run_provider("stripe", **options)
    assert sandbox_env.state.stats["stripe"].requests == 0
    assert not raw_db_path("stripe").exists()


def test_interval_bounds_are_whole_seconds_in_utc() -> None:
    import pipelines.stripe.source as stripe_source
    from pipelines.registry import get_provider

    assert get_provider("stripe").interval_reload is True
    midnight = int(datetime(2026, 10, 5, tzinfo=UTC).timestamp())
    assert stripe_source.reload_interval({}) is None
    assert stripe_source.reload_interval(GOOD) == (midnight, midnight + DAY)
    # Another offset, the `Z` suffix, and fractions: `created >= 0.5` starts at 1, `created < 10.5` ends at 10.
    assert stripe_source.reload_interval(
        {"interval_start": "2026-10-05T02:00:00+02:00", "interval_end": "2026-10-06T00:00:00Z"}
    ) == (midnight, midnight + DAY)
    assert stripe_source.reload_interval(
        {"interval_start": "2026-10-05T00:00:00.5+00:00", "interval_end": "2026-10-05T00:00:10.5+00:00"}
    ) == (midnight + 1, midnight + 11)
