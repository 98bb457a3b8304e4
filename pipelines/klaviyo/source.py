"""Klaviyo source: campaigns and their messages, flows with actions and messages, metrics, events (email metrics,
Placed Order, Ordered Product), profiles with consent and suppressions, lists and segments with members and
profile counts. All merged on id into `raw_klaviyo`, incremental on each resource's own cursor.

Events are read one metric at a time (`equals(metric_id,...)`): a real account has dozens of metrics (site
activity, SMS, integrations) we do not need and that would dwarf the email data. A metric's events are read as
datetime spans in parallel (`read_span`), and each group's members as a chain of their own, so that the tiers'
limits pace the run rather than one cursor chain's round trips.

Interval reload (Airflow backfills, contract in `dags/dagkit/extract.py`): with options `interval_start` /
`interval_end`, each incremental resource reads exactly the records whose own cursor lies in `[start, end)`: campaigns
(`updated_at`, with their messages), flows (`updated`, with their actions and messages), events (`datetime`) and
profiles (`updated`), bounded on both sides in the API filter. Profiles only allow `greater-than`, so they are asked
from one second before `start` and dlt's closed start drops the extra. The incremental gets an `end_value` (stateless
in dlt) and the campaigns' hand-kept cursor is not touched, so no cursor moves: the next normal run is unchanged.
Klaviyo only serves a record's current state, so a record changed again after the interval belongs to the interval of
its latest change. Snapshots without a time cursor (metrics, lists/segments, their profile counts and members) are
skipped: a past interval cannot be re-snapshotted, and a reload must not replace today's members table.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.libs.pyarrow import get_column_type_from_py_arrow
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.sources import DltResource

from pipelines.common.config import ProviderConfig
from pipelines.common.interval import reload_interval
from pipelines.common.raw_schema import Drift, drift_error

from .helpers import (
    Event,
    all_of,
    auth_for,
    filter_after,
    filter_before,
    first_page,
    get_one,
    page_and_next,
    paginate,
    split_by_density,
    split_span,
    thread_rest_clients,
)
from .settings import (
    CHAIN_PAGES_PER_ITEM,
    EVENT_MAX_SPLIT,
    EVENT_PAGES_PER_WINDOW,
    EVENT_READERS,
    EXTRACT_PARALLEL_ITEMS,
    EXTRACT_WORKERS,
    EXTRACTED_METRICS,
    INITIAL_CURSOR,
    KEYED_MAX_SPLIT,
    KEYED_PAGES_PER_CHAIN,
    PAGE_SIZES,
)

INITIAL_TIME = datetime.fromisoformat(INITIAL_CURSOR)
"""dlt's incremental cursors are declared as argument defaults (the library's idiom), hence the B008 noqa below."""


CAMPAIGN_HINTS = dlt.mark.make_hints(table_name="campaigns", columns={"audiences": {"data_type": "json"}})
MESSAGE_HINTS = dlt.mark.make_hints(table_name="campaign_messages")
"""Per row, not on the resource: resource hints would leak into `campaign_messages`, which the same resource fills.
`audiences` (lists of list/segment ids) stays one JSON column rather than child tables."""


MEMBER_HINTS: dict[str, Any] = {"left_group": {"data_type": "bool", "hard_delete": True, "dedup_sort": "asc"}}
"""`group_members` is merged on (group, profile). A row with `left_group` true deletes that member (dlt's hard delete);
of two rows for one member in a load, the one with `left_group` false wins (dlt's dedup sort), so a group read again in
full sends every member it had as a deletion plus every member it has, and only the leavers go."""


@dataclass(frozen=True)
class Keyed:
    """A cursor-paged collection read as parallel spans of a datetime key (`keyed_span`): `query(lo, hi, hi_closed,
    descending)` asks for the records with `lo <= key < hi` (`<= hi` if closed; no bound for None), `rows(data)` makes
    a page's rows, and `key` names the rows' key column."""

    path: str
    query: Callable[[datetime | None, datetime | None, bool, bool], dict[str, Any]]
    rows: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    key: str


def _rel_id(obj: dict[str, Any], name: str) -> str | None:
    data = (obj.get("relationships") or {}).get(name, {}).get("data")
    return data.get("id") if isinstance(data, dict) else None


def _utc(value: Any) -> Any:
    """A datetime read back from DuckDB (in the session's time zone) in UTC; anything else as it is."""
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _ts(value: Any) -> Any:
    """An ISO 8601 string as a UTC datetime. Anything else passes through untouched, so a timestamp whose type
    changed at Klaviyo reaches the shared drift check (which names it) instead of failing here with a bare error."""
    if not isinstance(value, str):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC) if value else None


def _profile_row(p: dict[str, Any]) -> dict[str, Any]:
    a = p["attributes"]
    loc = a.get("location") or {}
    marketing = ((a.get("subscriptions") or {}).get("email") or {}).get("marketing") or {}
    suppressions = marketing.get("suppression") or []
    first = min(suppressions, key=lambda s: s["timestamp"]) if suppressions else None
    return {
        "id": p["id"],
        "email": a.get("email"),
        "phone_number": a.get("phone_number"),
        "external_id": a.get("external_id"),
        "first_name": a.get("first_name"),
        "last_name": a.get("last_name"),
        "city": loc.get("city"),
        "region": loc.get("region"),
        "country": loc.get("country"),
        "zip": loc.get("zip"),
        "created": _ts(a.get("created")),
        "updated": _ts(a.get("updated")),
        "properties": a.get("properties") or {},
        "email_consent": marketing.get("consent"),
        "email_consent_at": _ts(marketing.get("consent_timestamp")),
        "can_receive_email_marketing": marketing.get("can_receive_email_marketing"),
        "suppressed_at": _ts(first["timestamp"]) if first else None,
        "suppression_reason": first["reason"] if first else None,
        "suppressions": suppressions,
    }


EVENT_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("metric_id", pa.string()),
    pa.field("metric_name", pa.string()),
    pa.field("profile_id", pa.string()),
    pa.field("datetime", pa.timestamp("us", tz="UTC")),
    pa.field("timestamp", pa.int64()),
    pa.field("uuid", pa.string()),
    pa.field("event_properties", pa.string()),
])
"""The `events` table's columns as the arrow tables the event resources yield: typed here, so dlt writes them to
parquet as they come and normalize only adds `_dlt_id` / `_dlt_load_id` (pipelines/run.py), where rows went through
dlt's per-row extract, normalize and type coercion (at the large world that was half the client's CPU). A value of
another type fails the run as schema drift (`_event_column`), as the shared contract does for rows."""
EVENT_HINTS: dict[str, Any] = {
    # A JSON column, as a string in arrow (its keys differ per event): the hint wins over arrow's `text`. dlt also
    # reads `nullable` from the arrow field, and its `freeze` contract compares it with the committed column, which
    # rows created without it: None keeps the committed value (no type change).
    "event_properties": {"data_type": "json", "nullable": None},
}


EVENT_DISPOSITION: Any = {"disposition": "merge", "strategy": "delete-insert", "deduplicated": True}
"""Merged on id (a re-run after a crash re-reads what a half-applied load holds), with the package declared free of
duplicates, so dlt's merge skips its ROW_NUMBER() pass over every staged event (at the large world 2-3 s of the load's
5-8 s): a metric's spans are disjoint `datetime` ranges (`read_span`) and dlt's incremental drops the events at the
saved cursor already loaded, so no event is read twice in a run (tests/pipelines/klaviyo/test_klaviyo_event_spans.py)."""


def _event_time(value: Any) -> datetime:
    """An event's `datetime`: ISO 8601 text, or schema drift (arrow would take an integer as an epoch offset)."""
    if not isinstance(value, str):
        raise drift_error("klaviyo", [Drift("events", "datetime", "timestamp", _kind(value), "an event's attributes.datetime")])
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _event_times(values: list[Any]) -> pa.Array:
    """The events' `datetime`s, ISO 8601 text with an offset, parsed by arrow; anything else one by one
    (`_event_time`), which names a drifted type."""
    kind = EVENT_SCHEMA.field("datetime").type
    if all(isinstance(v, str) for v in values):
        try:
            return pa.array(values, type=pa.string()).cast(kind)
        except pa.ArrowInvalid:  # a form arrow does not read (no offset, ...): as Python reads it
            pass
    return pa.array([_event_time(v) for v in values], type=kind)


def _event_profile(event: Event) -> str | None:
    """The id of an event's profile (its `relationships.profile.data`), or None."""
    rel = event.relationships
    data = rel.profile.data if rel is not None and rel.profile is not None else None
    return data.id if data is not None else None


def _event_column(values: list[Any], field: pa.Field) -> pa.Array:
    try:
        return pa.array(values, type=field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arrived = next((_kind(v) for v in values if v is not None and not _fits(v, field.type)), "other")
        expected = get_column_type_from_py_arrow(field.type).get("data_type", str(field.type))  # dlt's name: `bigint`, `text`
        raise drift_error("klaviyo", [Drift("events", field.name, str(expected), arrived, f"an event's {field.name}")]) from None


def _fits(value: Any, kind: pa.DataType) -> bool:
    try:
        pa.array([value], type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


def _kind(value: Any) -> str:
    """A value's JSON kind, for drift messages (never the value)."""
    return {str: "text", bool: "bool", int: "bigint", float: "double", dict: "object", list: "array"}.get(type(value), type(value).__name__)


def _first_last(table: pa.Table) -> tuple[datetime, datetime]:
    times = table["datetime"]
    return times[0].as_py(), times[-1].as_py()


def _rows_only(items: list[Any]) -> list[Any]:
    """The non-empty ones of arrow tables or lists of rows, as one item (`_one_item`)."""
    return _one_item([t for t in items if len(t)])


def _one_item(items: list[Any]) -> list[Any]:
    """Arrow tables, or lists of rows, of one table as one item (or none): dlt's main thread computes the table schema
    and runs the incremental once per item, some milliseconds each, and it is the thread every chain waits on."""
    if len(items) <= 1:
        return items
    if all(isinstance(t, pa.Table) for t in items):
        return [pa.concat_tables(items)]
    return [[row for rows in items for row in rows]]


def _where(table: pa.Table, compare: Any, moment: datetime) -> pa.Table:
    """The rows of `table` whose `datetime` compares so with `moment`."""
    return table.filter(compare(table["datetime"], pa.scalar(moment, type=EVENT_SCHEMA.field("datetime").type)))


@dlt.source(name="klaviyo")  # nesting depth: one for all sources, pipelines/common/raw_schema.py
def source(config: ProviderConfig) -> list[DltResource]:
    """The Klaviyo source for a resolved config (private key or OAuth, see helpers.auth_for); with options
    `interval_start` / `interval_end`, a reload of that interval (see the module docstring)."""
    window = reload_interval("klaviyo", config.options)  # a bad interval fails here, before any request
    # pyarrow's default pool (mimalloc) keeps what the extract threads free: 220 MB more peak RSS at the large world.
    pa.set_memory_pool(pa.system_memory_pool())
    # pyarrow imports pandas on its first conversion; extract threads doing that first one at once break the import
    # ("partially initialized module 'pandas'"), so it happens here, before the pool starts.
    pa.array([], type=pa.string())
    auth = auth_for(config)  # one auth object for every thread: OAuth refreshes are serialised inside it

    def cursor(field: str, initial: Any) -> Any:
        """dlt's incremental on `field`: saved and advanced in a normal run, pinned to the window in a reload (an
        `end_value` makes it stateless). Bounds take the type of `initial` (flows keep their cursor as text)."""
        if window is None:
            return dlt.sources.incremental(field, initial_value=initial)
        start, end = (window.start, window.end) if isinstance(initial, datetime) else (window.start.isoformat(), window.end.isoformat())
        return dlt.sources.incremental(field, initial_value=start, end_value=end)

    def bounded(field: str, start: Any, operator: str) -> list[str]:
        """`operator(field,start)`, plus `less-than(field,end)` in a reload."""
        return [filter_after(field, start, operator)] + ([filter_before(field, window.end)] if window else [])

    rest = thread_rest_clients(config, auth)

    @dlt.resource(name="metrics", primary_key="id", write_disposition="merge", parallelized=True)
    def metrics() -> Iterator[list[dict[str, Any]]]:
        # A page at a time: a parallelized generator waits a turn in the extract pool for every item it yields.
        for data, _ in paginate(rest(), "/api/metrics"):
            yield [metric_row(m) for m in data]

    def metric_row(m: dict[str, Any]) -> dict[str, Any]:
        a = m["attributes"]
        integration = a.get("integration") or {}
        return {"id": m["id"], "name": a.get("name"), "created": _ts(a.get("created")), "updated": _ts(a.get("updated")),
                "integration_name": integration.get("name"), "integration_category": integration.get("category")}

    @dlt.resource(name="campaigns", primary_key="id", write_disposition="merge", parallelized=True)
    def campaigns() -> Iterator[Any]:
        # One request gives campaigns and (via include) their messages, so two tables come from one resource and
        # the cursor is kept by hand: dlt's incremental would also filter the included messages by it.
        # A reload neither reads nor writes that cursor (reading the state would already create an entry in it).
        state = dlt.current.resource_state() if window is None else {}
        since = state.get("last_updated_at", INITIAL_CURSOR)
        newest = since
        changed = bounded("updated_at", window.start, "greater-or-equal") if window else [filter_after("updated_at", since)]
        params = {"filter": all_of("equals(messages.channel,'email')", *changed),
                  "include": "campaign-messages", "sort": "updated_at", "page[size]": PAGE_SIZES["/api/campaigns"]}
        for data, included in paginate(rest(), "/api/campaigns", params):  # a page at a time, as `metrics`
            if data:
                newest = max(newest, *(c["attributes"]["updated_at"] for c in data))
                yield dlt.mark.with_hints([campaign_row(c) for c in data], CAMPAIGN_HINTS)
            messages = [message_row(m) for m in included if m.get("type") == "campaign-message"]
            if messages:
                yield dlt.mark.with_hints(messages, MESSAGE_HINTS)
        if window is None:
            state["last_updated_at"] = newest

    def campaign_row(c: dict[str, Any]) -> dict[str, Any]:
        a = c["attributes"]
        return {"id": c["id"], "name": a.get("name"), "status": a.get("status"), "archived": a.get("archived"),
                "channel": "email", "created_at": _ts(a.get("created_at")), "updated_at": _ts(a.get("updated_at")),
                "scheduled_at": _ts(a.get("scheduled_at")), "send_time": _ts(a.get("send_time")), "audiences": a.get("audiences")}

    def message_row(m: dict[str, Any]) -> dict[str, Any]:
        a = m["attributes"]
        content = (a.get("definition") or {}).get("content") or {}
        return {"id": m["id"], "campaign_id": _rel_id(m, "campaign"), "label": (a.get("definition") or {}).get("label"),
                "subject": content.get("subject"), "created_at": _ts(a.get("created_at")), "updated_at": _ts(a.get("updated_at"))}

    @dlt.resource(name="flows", primary_key="id", write_disposition="merge", parallelized=True)
    def flows(updated: dlt.sources.incremental[str] = cursor("updated", INITIAL_CURSOR)) -> Iterator[dict[str, Any]]:  # noqa: B008 - dlt idiom
        changed = bounded("updated", updated.start_value, "greater-or-equal") if window else [filter_after("updated", updated.last_value)]
        params = {"filter": all_of(*changed), "sort": "updated", "page[size]": PAGE_SIZES["/api/flows"]}
        for data, _ in paginate(rest(), "/api/flows", params):  # row by row: `flow_actions` takes one flow at a time
            for f in data:
                a = f["attributes"]
                yield {"id": f["id"], "name": a.get("name"), "status": a.get("status"), "archived": a.get("archived"),
                       "trigger_type": a.get("trigger_type"), "created": a.get("created"), "updated": a.get("updated")}

    # Transformers run on dlt's main thread unless parallelized: there, the S tier's waits (3/s, 60/min) held up the
    # whole extraction, every other resource's items included.
    @dlt.transformer(name="flow_actions", data_from=flows, primary_key="id", write_disposition="merge", parallelized=True)
    def flow_actions(flow: dict[str, Any]) -> Iterator[dict[str, Any]]:
        client = rest()
        for data, _ in paginate(client, f"/api/flows/{flow['id']}/flow-actions", {"page[size]": PAGE_SIZES["/api/flows/{id}/flow-actions"]}):
            for action in data:
                a = action["attributes"]
                # Revision 2026-07-15 moved the action's kind into `definition.type` (`send-email`).
                kind = a.get("action_type") or {"send-email": "SEND_EMAIL"}.get(str((a.get("definition") or {}).get("type")))
                yield {"id": action["id"], "flow_id": flow["id"], "action_type": kind, "status": a.get("status"),
                       "created": _ts(a.get("created")), "updated": _ts(a.get("updated"))}

    @dlt.transformer(name="flow_messages", data_from=flow_actions, primary_key="id", write_disposition="merge", parallelized=True)
    def flow_messages(action: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if action.get("action_type") != "SEND_EMAIL":
            return
        path = f"/api/flow-actions/{action['id']}/flow-messages"
        for data, _ in paginate(rest(), path, {"page[size]": PAGE_SIZES["/api/flow-actions/{id}/flow-messages"]}):
            for m in data:
                a = m["attributes"]
                definition = a.get("definition") or {}  # 2026-07-15: name and subject live in the definition
                yield {"id": m["id"], "flow_action_id": action["id"], "flow_id": action["flow_id"], "name": a.get("name") or definition.get("name"),
                       "channel": a.get("channel"), "subject": (a.get("content") or {}).get("subject") or definition.get("subject_line"),
                       "created": _ts(a.get("created")), "updated": _ts(a.get("updated"))}

    metric_lock = threading.Lock()
    metric_cache: dict[str, str] = {}

    def metric_ids() -> dict[str, str]:
        with metric_lock:  # one /api/metrics call shared by the per-metric event resources
            if not metric_cache:
                metric_cache.update({m["attributes"]["name"]: m["id"] for data, _ in paginate(rest(), "/api/metrics") for m in data})
            return metric_cache

    def event_table(data: list[Event], metric_id: str, name: str) -> pa.Table:
        """One page of a metric's events (`helpers.EventPage`) as an arrow table (events are nearly all of Klaviyo's
        rows: as arrow they skip dlt's row-by-row extract and normalize, see `EVENT_SCHEMA`)."""
        attributes = [e.attributes for e in data]
        columns = {
            "id": [e.id for e in data],
            "metric_id": [metric_id] * len(data),
            "metric_name": [name] * len(data),
            "profile_id": [_event_profile(e) for e in data],
            "timestamp": [a.timestamp for a in attributes],
            "uuid": [a.uuid for a in attributes],
            # As it arrived (JSON text); a missing or null object is an empty one.
            "event_properties": [bytes(a.event_properties) if len(a.event_properties) and a.event_properties != b"null" else b"{}" for a in attributes],
        }
        arrays = {f.name: _event_column(columns[f.name], f) for f in EVENT_SCHEMA if f.name != "datetime"}
        arrays["datetime"] = _event_times([a.datetime for a in attributes])
        return pa.Table.from_arrays([arrays[f.name] for f in EVENT_SCHEMA], schema=EVENT_SCHEMA)

    def events_of(name: str) -> DltResource:
        """One resource per metric, all into the `events` table: each keeps its own cursor (a metric whose events
        arrive late is not skipped past by another's), and they page in parallel within the XL tier."""

        @dlt.resource(name=f"events_{name.lower().replace(' ', '_')}", table_name="events", primary_key="id",
                      write_disposition=EVENT_DISPOSITION, parallelized=True, columns=EVENT_HINTS)
        def events(
            occurred: dlt.sources.incremental[datetime] = cursor("datetime", INITIAL_TIME),  # noqa: B008
        ) -> Iterator[Any]:
            metric_id = metric_ids().get(name)
            if metric_id is None:
                return
            yield read_span(metric_id, name, occurred.start_value or INITIAL_TIME, window.end if window else None, False)

        return events

    def event_query(metric_id: str, lo: datetime, hi: datetime | None, hi_closed: bool, sort: str = "datetime") -> dict[str, Any]:
        """The events of one metric with `lo <= datetime < hi` (`<= hi` if closed; no upper bound without `hi`). In
        a reload every query also names the interval's end, as every other resource's does."""
        upper = [filter_after("datetime", hi, "less-or-equal" if hi_closed else "less-than")] if hi is not None else []
        if window is not None and (hi, hi_closed) != (window.end, False):
            upper.append(filter_before("datetime", window.end))
        return {"filter": all_of(f"equals(metric_id,\"{metric_id}\")", filter_after("datetime", lo, "greater-or-equal"), *upper),
                "sort": sort, "page[size]": PAGE_SIZES["/api/events"]}

    @dlt.defer
    def page_chain(path: str, params: dict[str, Any] | None, to_items: Callable[[list[Any]], Any],
                   next_url: str | None = None, pages_per_item: int = CHAIN_PAGES_PER_ITEM, gate: Any = None) -> Iterator[Any]:
        """A few pages of a cursor chain (`to_items` of each page's data), and the rest of the chain as the next
        deferred item: the extract pool holds a few pages per chain in flight, not whole chains (at the xlarge world,
        eight chains of profiles held 400 MB as rows). The rest comes first in the returned items, so dlt hands it to
        the pool before it processes these pages: the chain's next pages are read while its last ones are written
        (handed on after them, a chain waited for the main thread's turn on every item)."""
        found: list[Any] = []
        link = next_url
        with gate or nullcontext():
            for _ in range(pages_per_item):
                data, link = page_and_next(rest(), link or path, None if link else params)
                items = to_items(data)
                found += [items] if len(items) else []
                if not link:
                    return iter(_one_item(found))
        return iter([page_chain(path, params, to_items, link, pages_per_item, gate), *_one_item(found)])

    def read_chain(metric_id: str, name: str, lo: datetime, hi: datetime) -> Any:
        """The events of one metric with `lo <= datetime <= hi`, page after page through `links.next`."""
        return page_chain("/api/events", event_query(metric_id, lo, hi, True), lambda data: event_table(data, metric_id, name),
                          gate=event_gate)

    event_gate = threading.BoundedSemaphore(EVENT_READERS)
    """At most this many event items read at once. Events are nine tenths of the rows and nearly all of the client's
    CPU (a 1 MB page to parse and turn into arrow), on an XL tier with room to spare, while the L tier (profiles and
    members) is the slowest limit and needs little CPU: with every event span in flight at once, the L tier's chains
    waited for the GIL and for dlt's main thread (30 s without an L request at the large world on a busy machine)."""

    @dlt.defer
    def read_span(metric_id: str, name: str, lo: datetime, hi: datetime | None, hi_closed: bool) -> Iterator[Any]:
        """The events of one metric in a datetime span, as arrow tables and deferred sub-spans (dlt runs both kinds
        of item from the returned iterator: tables go down the pipe, sub-spans to the extract thread pool).

        A cursor chain of hundreds of pages is paced by its round trips (~7 pages/s), far below the XL tier's 58/s,
        so a span of more than one page is split: its first page in ascending and in descending order hold every
        event before the head's last `datetime` and after the tail's last; the span between is cut into sub-spans
        `[b_i, b_i+1)` (the last one closed) read the same way. They partition the span exactly, whatever the ties
        at a boundary. The cursor is dlt's incremental, committed with the load: it moves only if every span was read.
        Hand-split because Klaviyo gives no count to plan windows from and its events come in bursts (campaign sends)."""
        with event_gate:
            return span_items(metric_id, name, lo, hi, hi_closed)

    def span_items(metric_id: str, name: str, lo: datetime, hi: datetime | None, hi_closed: bool) -> Iterator[Any]:
        client = rest()
        head_data, more = first_page(client, "/api/events", event_query(metric_id, lo, hi, hi_closed))
        head = event_table(head_data, metric_id, name)
        if not more:
            return iter([head] if head.num_rows else [])
        tail_data, _ = first_page(client, "/api/events", event_query(metric_id, lo, hi, hi_closed, sort="-datetime"))
        tail = event_table(tail_data, metric_id, name)
        head_first, head_last = _first_last(head)
        tail_first, tail_last = _first_last(tail)
        # Every event before head_last is on the head page; every event after tail_last on the tail page.
        before_head = _where(head, pc.less, head_last)
        if tail_last < head_last:  # at most two pages: the tail holds every event from head_last on
            return iter(_rows_only([before_head, _where(tail, pc.greater_equal, head_last)]))
        found: list[Any] = _rows_only([before_head, _where(tail, pc.greater, tail_last)])
        # Pages between, at the head's and tail's density (a rough guess: sends come in bursts, so at least two parts).
        sampled = (head_last - head_first) + (tail_first - tail_last)
        pages = 2 * (tail_last - head_last) / max(sampled, timedelta(seconds=1))
        if pages <= 2 or (head_last, tail_last, True) == (lo, hi, hi_closed):
            # A page or two between (a split's head and tail would cost as many requests), or more than two pages in
            # one second (no split helps): the span between as one cursor chain.
            return iter([read_chain(metric_id, name, head_last, tail_last), *found])  # deferred items first: see page_chain
        edges = split_span(head_last, tail_last, max(2, min(EVENT_MAX_SPLIT, math.ceil(pages / EVENT_PAGES_PER_WINDOW))))
        spans = [read_span(metric_id, name, a, b, i == len(edges) - 2) for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False))]
        return iter([*spans, *found])

    @dlt.resource(name="profiles", primary_key="id", write_disposition="merge", parallelized=True,
                  columns={"properties": {"data_type": "json"}, "suppressions": {"data_type": "json"}, "external_id": {"data_type": "text"},
                           # Spans overlap by a second (`profile_query`), and a profile changed mid-run can be read
                           # twice: the merge keeps its latest version.
                           "updated": {"dedup_sort": "desc"}})
    def profiles(
        updated: dlt.sources.incremental[datetime] = cursor("updated", INITIAL_TIME),  # noqa: B008
    ) -> Iterator[Any]:
        stream = Keyed("/api/profiles", profile_query, lambda data: [_profile_row(p) for p in data], "updated")
        yield keyed_span(stream, window.start if window else updated.start_value or INITIAL_TIME, window.end if window else None, False)

    def profile_query(lo: datetime | None, hi: datetime | None, hi_closed: bool, descending: bool) -> dict[str, Any]:
        """Profiles with `lo <= updated < hi` (`<= hi` if closed), give or take a second below `lo`: `updated` allows
        only greater-than / less-than, so they are asked from one second before `lo` (a margin that holds even if
        Klaviyo compares whole seconds): a profile stamped exactly at the saved cursor but not yet loaded is not
        skipped. The incremental's closed start drops what precedes the start, and dedups what was already loaded. A
        closed end is asked as less than a second later: Klaviyo's stamps are whole seconds."""
        ends = [hi + timedelta(seconds=1) if hi is not None and hi_closed else hi, window.end if window else None]
        upper = [b for b in dict.fromkeys(ends) if b is not None]
        lower = [filter_after("updated", lo - timedelta(seconds=1))] if lo is not None else []
        return {"filter": all_of(*lower, *(filter_before("updated", b) for b in upper)), "sort": "-updated" if descending else "updated",
                "additional-fields[profile]": "subscriptions", "page[size]": PAGE_SIZES["/api/profiles"]}

    @dlt.defer
    def keyed_span(stream: Keyed, lo: datetime | None, hi: datetime | None, hi_closed: bool) -> Iterator[Any]:
        """The records of `stream` with `lo <= key < hi` (`<= hi` if closed, unbounded if None), as cursor chains over
        parts of the span, in parallel: the L tier (profiles and every group's members) is paced by a chain's round
        trips otherwise (at the large world the newest part of the profiles, one chain of 120 pages, took 45 s where
        the tier allows 28 for all of them). As `read_span` does for events: the first page in ascending and in
        descending order hold every record before the head's last key and after the tail's last; the span between is
        cut into parts of about `KEYED_PAGES_PER_CHAIN` pages each, by the densities the two pages show (Klaviyo gives
        no count): the parts `[b_i, b_i+1)` (the last one closed) partition it exactly, whatever the ties at a bound."""
        client = rest()
        head_data, more = first_page(client, stream.path, stream.query(lo, hi, hi_closed, False))
        head = stream.rows(head_data)
        if not more:
            return iter([head] if head else [])
        tail = stream.rows(first_page(client, stream.path, stream.query(lo, hi, hi_closed, True))[0])
        key = stream.key
        if not all(isinstance(r[key], datetime) for r in (head[0], head[-1], tail[0], tail[-1])):
            # A drifted key: read as one chain, the drift check names it.
            return iter([page_chain(stream.path, stream.query(lo, hi, hi_closed, False), stream.rows)])
        head_first, head_last, tail_first, tail_last = head[0][key], head[-1][key], tail[0][key], tail[-1][key]
        before_head = [r for r in head if r[key] < head_last]
        if tail_last < head_last:  # at most two pages: the tail holds every record from head_last on
            return iter(_rows_only([before_head, [r for r in tail if r[key] >= head_last]]))
        found = _rows_only([before_head, [r for r in tail if r[key] > tail_last]])
        second = timedelta(seconds=1)
        density_head = len(head) / max((head_last - head_first) / second, 1.0)
        density_tail = len(tail) / max((tail_first - tail_last) / second, 1.0)
        pages = (tail_last - head_last) / second * (density_head + density_tail) / 2 / max(1, len(head))
        parts = max(1, min(KEYED_MAX_SPLIT, math.ceil(pages / KEYED_PAGES_PER_CHAIN)))
        edges = split_by_density(head_last, tail_last, parts, density_head, density_tail)
        last = len(edges) - 2
        chains = [page_chain(stream.path, stream.query(a, b, i == last, False), stream.rows) for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False))]
        return iter([*chains, *found])  # deferred items first: see page_chain

    group_lock = threading.Lock()
    group_cache: dict[str, list[dict[str, Any]]] = {}

    def groups_of(plural: str) -> list[dict[str, Any]]:
        """Every segment or list (page size 10: a few pages), read once for both `groups` and `group_members`."""
        with group_lock:
            if plural not in group_cache:
                group_cache[plural] = [g for data, _ in paginate(rest(), f"/api/{plural}", {"page[size]": PAGE_SIZES[f"/api/{plural}"]}) for g in data]
            return group_cache[plural]

    count_locks_lock = threading.Lock()
    count_locks: dict[str, threading.Lock] = {}
    count_cache: dict[str, Any] = {}

    def profile_count(kind: str, plural: str, gid: str) -> Any:
        """A group's `profile_count`, asked once per run for both the snapshot (`groups`) and the members' check
        (`member_update`). One lock per group: the groups' counts wait for the XS tier's limiter side by side, which
        sends them a second apart from the first, rather than each one after the previous answer."""
        with count_locks_lock:
            lock = count_locks.setdefault(gid, threading.Lock())
        with lock:
            if gid not in count_cache:
                detail = get_one(rest(), f"/api/{plural}/{gid}", {f"additional-fields[{kind}]": "profile_count"})
                count_cache[gid] = detail["attributes"].get("profile_count")
            return count_cache[gid]

    @dlt.resource(name="groups", primary_key="id", write_disposition="merge", parallelized=True)
    def groups() -> Iterator[Any]:
        # Lists and segments are few: read in full. Profile counts come from the detail endpoint (its own 1/s, 15/m
        # limit) into a snapshot table. One pool item per kind: a parallelized generator waits a turn in the pool per
        # item.
        taken_at = datetime.now(UTC)
        for kind, plural in (("segment", "segments"), ("list", "lists")):
            yield groups_and_counts(kind, plural, taken_at)

    @dlt.defer
    def groups_and_counts(kind: str, plural: str, taken_at: datetime) -> Iterator[Any]:
        found, counts = [], []
        for g in groups_of(plural):
            a = g["attributes"]
            found.append({"id": g["id"], "group_type": kind, "name": a.get("name"), "created": _ts(a.get("created")),
                          "updated": _ts(a.get("updated")), "is_active": a.get("is_active")})
            # One snapshot per group and day: re-runs on the same day replace it instead of adding rows.
            counts.append({"id": f"{g['id']}@{taken_at.date().isoformat()}", "group_id": g["id"], "group_type": kind,
                           "profile_count": profile_count(kind, plural, g["id"]), "taken_at": taken_at})
        return iter([dlt.mark.with_table_name(rows, table) for rows, table in ((found, "groups"), (counts, "group_profile_counts")) if rows])

    held_lock = threading.Lock()

    def held(sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """A query on the members already loaded (`{table}`: raw group_members); none before the table exists."""
        with held_lock:
            try:
                with dlt.current.pipeline().sql_client() as client:
                    return [tuple(r) for r in client.execute_sql(sql.format(table=client.make_qualified_table_name("group_members")), *args) or []]
            except DatabaseUndefinedRelation:
                return []

    @dlt.resource(name="group_members", primary_key=("group_id", "profile_id"), write_disposition="merge", parallelized=True,
                  columns=MEMBER_HINTS)
    def group_members() -> Iterator[Any]:
        """Current members of every list and segment, changed by what changed: see `member_update`. A group Klaviyo no
        longer lists loses its members."""
        loaded = {gid: (n, _utc(newest)) for gid, n, newest in held("select group_id, count(*), max(joined_group_at) from {table} group by group_id")}
        listed = set()
        for kind, plural in (("segment", "segments"), ("list", "lists")):
            for g in groups_of(plural):
                listed.add(g["id"])
                yield member_update(kind, plural, g["id"], loaded.get(g["id"]))
        for gid in sorted(loaded.keys() - listed):
            yield from members_left(gid)

    @dlt.defer
    def member_update(kind: str, plural: str, gid: str, loaded: tuple[int, datetime | None] | None) -> Iterator[Any]:
        """One group's members: read in full the first time (`joined_group_at` spans side by side in the extract pool,
        keyed_span), then only those who joined since, when that is exact. Klaviyo has no feed of leavers, but its
        `profile_count` tells how many members there are: with `n` members loaded and `new` joiners not among them, the
        group lost `n + new - profile_count` members. None lost: the joiners are merged (a rejoiner's row is updated,
        not added). Otherwise the group is read again in full, and every member loaded for it goes as a deletion that
        the fresh rows override (`MEMBER_HINTS`): those not read again are the leavers.

        The count is read before the joiners: a join after it makes the sum exceed it (a full re-read, not a miss); a
        member who leaves after it was counted keeps its row until the next run, whose count (compared with what is
        loaded, so no difference is ever lost) sees it. What no order can see is a profile that joins before the count
        and leaves again before the joiners' read, in the same second as another member leaves: that leaver's row stays
        one run longer. Joiners are read from the newest join loaded, that second included (`greater-or-equal`: a
        member stamped in the same second but not visible until after the last run is not skipped; the ones already
        loaded are told apart by id)."""
        stream = members_of(kind, plural, gid)
        if loaded is None:
            return iter([keyed_span(stream, None, None, False)])
        n, newest = loaded
        expected = profile_count(kind, plural, gid)
        joiners: list[dict[str, Any]] = []
        link: str | None = None
        while True:
            data, link = page_and_next(rest(), link or stream.path, None if link else stream.query(newest, None, False, False))
            joiners += stream.rows(data)
            if not link:
                break
        ids = [r["profile_id"] for r in joiners]
        known = {pid for (pid,) in held("select profile_id from {table} where group_id = ? and list_contains(?, profile_id)", gid, ids)} if ids else set()
        if n + sum(1 for pid in ids if pid not in known) == expected:
            return iter([joiners] if joiners else [])
        return iter([keyed_span(stream, None, None, False), *members_left(gid)])  # deferred items first: see page_chain

    def members_left(gid: str) -> list[list[dict[str, Any]]]:
        """Every member loaded for a group, as deletions (in chunks of rows): a fresh row of the same member wins."""
        rows = [{"group_id": gid, "profile_id": pid, "left_group": True} for (pid,) in held("select profile_id from {table} where group_id = ?", gid)]
        return [rows[i:i + 10_000] for i in range(0, len(rows), 10_000)]

    def members_of(kind: str, plural: str, gid: str) -> Keyed:
        def rows(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{"group_id": gid, "group_type": kind, "profile_id": p["id"], "email": p["attributes"].get("email"),
                     "joined_group_at": _ts(p["attributes"].get("joined_group_at")), "left_group": False} for p in data]

        def query(lo: datetime | None, hi: datetime | None, hi_closed: bool, descending: bool) -> dict[str, Any]:
            """Members with `lo <= joined_group_at < hi` (`<= hi` if closed): the field takes all four comparisons."""
            bounds = ([filter_after("joined_group_at", lo, "greater-or-equal")] if lo is not None else []) + (
                [filter_after("joined_group_at", hi, "less-or-equal" if hi_closed else "less-than")] if hi is not None else [])
            return {**({"filter": all_of(*bounds)} if bounds else {}), "sort": "-joined_group_at" if descending else "joined_group_at",
                    "page[size]": PAGE_SIZES[f"/api/{plural}/{{id}}/profiles"]}

        return Keyed(f"/api/{plural}/{gid}/profiles", query, rows, "joined_group_at")

    # dlt reads its extract settings per source section, so this sizes Klaviyo's pool only; an operator's own
    # value (environment or config.toml) wins.
    section = f"SOURCES__{__name__.rsplit('.', 1)[-1].upper()}__KLAVIYO__EXTRACT"
    os.environ.setdefault(f"{section}__WORKERS", str(EXTRACT_WORKERS))
    os.environ.setdefault(f"{section}__MAX_PARALLEL_ITEMS", str(EXTRACT_PARALLEL_ITEMS))
    event_resources = [events_of(name) for name in EXTRACTED_METRICS]
    incremental: list[DltResource] = [campaigns, flows, flow_actions, flow_messages, *event_resources, profiles]
    # Snapshots have no time cursor: an interval reload skips them (module docstring).
    return incremental if window else [metrics, *incremental, groups, group_members]
