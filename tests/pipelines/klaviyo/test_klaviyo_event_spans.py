"""Events read as parallel datetime spans (pipelines/klaviyo/source.py `read_span`): with small pages, so that the
small world splits into many spans, the loaded events are exactly the world's (computed from the world, not from
what was loaded), none fetched twice, none lost at a span's edge, and a run that fails in one span moves no cursor."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest

from pipelines.common.errors import SchemaDriftError
from pipelines.common.storage import raw_db_path
from pipelines.klaviyo import settings
from pipelines.klaviyo.helpers import decode_event_page, split_span
from pipelines.run import run_provider
from tests.helpers import raw_count, raw_query

EVENT_RESOURCES = [f"events_{name.lower().replace(' ', '_')}" for name in settings.EXTRACTED_METRICS]
SMALL_PAGE = 25


@pytest.fixture
def small_pages(klaviyo_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setitem(settings.PAGE_SIZES, "/api/events", SMALL_PAGE)
    return klaviyo_env


def world_events(sandbox: Any) -> set[str]:
    kw = sandbox.world.extension("klaviyo")
    return {e.id for e in kw.events if e.datetime <= sandbox.world.now and e.metric in settings.EXTRACTED_METRICS}


def event_requests(sandbox: Any) -> list[dict[str, str]]:
    return [r["query"] for r in sandbox.state.provider_store("klaviyo")["requests"] if r["op"] == "get_events"]


def test_split_spans_load_exactly_the_world_events(small_pages: Any) -> None:
    kw = small_pages.world.extension("klaviyo")
    # Events sharing a second (an order's products) are what a span edge could lose or double.
    ties = Counter((e.metric, e.datetime) for e in kw.events if e.metric in settings.EXTRACTED_METRICS)
    assert sum(n for n in ties.values() if n > 1) > 100
    summary = run_provider("klaviyo", resources=EVENT_RESOURCES)
    expected = world_events(small_pages)
    loaded = {r[0] for r in raw_query("klaviyo", "select id from raw_klaviyo.events")}
    assert loaded == expected
    assert summary.rows_extracted["events"] == len(expected)  # none fetched twice (merge would hide it, this count not)
    queries = event_requests(small_pages)
    # The spans were really split: tail pages, closed sub-spans, and more requests than one chain per metric needs.
    assert any(q.get("sort") == "-datetime" for q in queries)
    assert any("less-or-equal(datetime," in q.get("filter", "") for q in queries)
    assert all(q.get("page[size]") == str(SMALL_PAGE) for q in queries)
    assert small_pages.state.stats["klaviyo"].by_status.get(429, 0) == 0


def test_incremental_after_split_spans_reads_only_new_events(small_pages: Any) -> None:
    run_provider("klaviyo", resources=EVENT_RESOURCES)
    before = world_events(small_pages)
    small_pages.world.advance(30)
    second = run_provider("klaviyo", resources=EVENT_RESOURCES)
    after = world_events(small_pages)
    assert len(after) - len(before) > SMALL_PAGE * 4  # enough new events to split again
    assert second.rows_extracted["events"] == len(after - before)
    assert {r[0] for r in raw_query("klaviyo", "select id from raw_klaviyo.events")} == after


def test_a_failed_span_moves_no_cursor_and_the_rerun_loses_nothing(small_pages: Any) -> None:
    run_provider("klaviyo", resources=EVENT_RESOURCES)
    before = world_events(small_pages)
    small_pages.world.advance(30)
    after = world_events(small_pages)
    # One request well into the run is refused (400: not retried), so one span fails while others completed.
    small_pages.state.add_fault("klaviyo", "5xx", count=1, path_contains="/api/events", skip=30, status=400)
    with pytest.raises(Exception, match="400"):
        run_provider("klaviyo", resources=EVENT_RESOURCES)
    assert raw_count("klaviyo", "events") == len(before)  # nothing of the failed run was loaded
    rerun = run_provider("klaviyo", resources=EVENT_RESOURCES)
    assert rerun.rows_extracted["events"] == len(after - before)  # every cursor still where the first run left it
    assert {r[0] for r in raw_query("klaviyo", "select id from raw_klaviyo.events")} == after


def test_a_5xx_in_a_span_is_retried_without_duplicates(small_pages: Any) -> None:
    small_pages.state.add_fault("klaviyo", "5xx", count=2, path_contains="/api/events", skip=20, status=503)
    summary = run_provider("klaviyo", resources=EVENT_RESOURCES)
    assert summary.rows_extracted["events"] == len(world_events(small_pages)) == raw_count("klaviyo", "events")


def test_events_already_loaded_are_merged_not_doubled_when_the_cursor_is_lost(small_pages: Any) -> None:
    """The package is declared free of duplicates (source.EVENT_DISPOSITION), but the merge still replaces what the
    table holds: a load whose rows were committed without its cursor (a crash before dlt recorded the load) is read
    again in full, and every event stays once."""
    run_provider("klaviyo", resources=EVENT_RESOURCES)
    expected = world_events(small_pages)
    con = duckdb.connect(str(raw_db_path("klaviyo")))
    try:  # as if the load had not been recorded: no state, so every cursor starts again
        con.execute("delete from raw_klaviyo._dlt_pipeline_state")
        con.execute("delete from raw_klaviyo._dlt_loads")
    finally:
        con.close()
    again = run_provider("klaviyo", resources=EVENT_RESOURCES)
    assert again.rows_extracted["events"] == len(expected)  # really read again
    ids = [r[0] for r in raw_query("klaviyo", "select id from raw_klaviyo.events")]
    assert len(ids) == len(set(ids)) and set(ids) == expected


def test_split_span_cuts_contiguous_whole_second_spans() -> None:
    lo, hi = datetime(2025, 1, 1, 10, 0, 0, 500000, tzinfo=UTC), datetime(2025, 1, 3, 10, 0, 0, tzinfo=UTC)
    edges = split_span(lo, hi, 8)
    assert edges[0] == lo and edges[-1] == hi and len(edges) == 9
    assert all(a < b for a, b in zip(edges, edges[1:], strict=False))
    assert all(b.microsecond == 0 for b in edges[1:-1])
    # A span too short for the parts asked gets fewer parts, never empty or reversed ones.
    short = split_span(lo, lo + timedelta(seconds=2), 8)
    assert short[0] == lo and short[-1] == lo + timedelta(seconds=2) and all(a < b for a, b in zip(short, short[1:], strict=False))
    assert split_span(lo, lo, 4) == [lo, lo]


@pytest.mark.parametrize("field", ["timestamp", "datetime", "uuid"])
def test_an_event_field_that_changes_type_fails_the_run_naming_it(small_pages: Any, field: str) -> None:
    """Events are arrow tables with typed columns (source.EVENT_SCHEMA), not rows under dlt's contract: a value of
    another type is drift all the same, named by table and column, and nothing of the run is loaded."""
    run_provider("klaviyo", resources=EVENT_RESOURCES)
    before = raw_count("klaviyo", "events")
    small_pages.world.advance(30)
    small_pages.state.add_fault("klaviyo", "type_change", count=100_000, path_contains="/api/events", field=field)
    with pytest.raises(SchemaDriftError) as failure:
        run_provider("klaviyo", resources=EVENT_RESOURCES)
    message = str(failure.value)
    assert message.startswith("klaviyo: schema drift, nothing of this load was written: table events, column "
                              f"{field}: an object arrived"), message
    assert "unexpected" not in message  # the drifted value's key is never quoted
    assert raw_count("klaviyo", "events") == before


def test_an_events_page_whose_shape_changed_is_drift_naming_the_column() -> None:
    """Events pages are decoded to the fields the source reads (helpers.EventPage): a relationship or attributes
    object of another shape is drift naming `events.<column>`, never retried as a malformed body, and the value is not
    quoted; a body that does not parse is a ValueError, which the client layer retries as malformed."""
    event = '{"type":"event","id":"E1","attributes":{"datetime":"2025-01-01T00:00:00+00:00","event_properties":{}},'
    with pytest.raises(SchemaDriftError) as failure:
        decode_event_page(('{"data":[' + event + '"relationships":{"profile":{"data":["secret-id"]}}}]}').encode())
    message = str(failure.value)
    assert "table events, column profile_id: an array arrived" in message, message
    assert "secret-id" not in message
    with pytest.raises(SchemaDriftError, match="table events, column attributes: a text arrived"):
        decode_event_page(b'{"data":[{"type":"event","id":"E1","attributes":"x"}]}')
    with pytest.raises(ValueError) as truncated:
        decode_event_page(b'{"data":[' + event.encode())
    assert not isinstance(truncated.value, SchemaDriftError)
    page = decode_event_page(('{"data":[' + event + '"relationships":{"profile":{"data":{"type":"profile","id":"P1"}}}}],'
                              '"links":{"next":null}}').encode())
    assert [(e.id, e.relationships.profile.data.id, bytes(e.attributes.event_properties)) for e in page.data] == [("E1", "P1", b"{}")]  # type: ignore[union-attr]
