"""Stripe source: customers, catalogue, subscriptions, invoices, money movements and events into `raw_stripe`.

How it stays correct without an `updated` filter (Stripe lists have none):

- Every list resource walks `/v1/<objects>` by `created`. The first load splits the range into windows read in
  parallel (the shared token bucket keeps the whole process under the account's limit); later loads read only what
  was created since the resource's cursor.
- Mutable objects change after creation. An incremental run first reads `/v1/events` after the last processed event
  and the webhook inbox after its last sequence number (`_read_changes`, once, before any mutable list), so each list
  it then reads is at least as fresh as every event. Each list returns the current state of the changed objects it
  lists anyway (the new ones); for changed objects created before its cursor it re-lists by `created` range, newest
  first, while a page costs less than the GETs it saves (`_relist`), and fetches the rest by id, once however many
  events name them. Current state rather than the event's snapshot makes out-of-order and duplicated events
  harmless: whatever order they come in, the row ends as Stripe has it now. The `events` resource stores every event.
- Stripe keeps events 30 days. If the saved cursor event is gone (404), changes may have been missed: the mutable
  lists are re-read in full, with a warning in the log. `mode="reconcile"` (the registry's `reconcile_stripe` DAG)
  does the same on purpose, nightly: stale subscription statuses are how connectors get MRR wrong.
- Everything merges on the Stripe id; `_fetched_at` (dedup_sort) keeps the newest copy when a run sees an object
  twice. All cursors live in dlt state, committed with the data: a crash re-reads from the last committed cursor.

Interval reload (Airflow backfills, the contract in `dags/dagkit/extract.py`): with options `interval_start` /
`interval_end` every list reads the objects created in `[start, end)` (`created[gte]`/`created[lt]`), and `events`
reads the events created in that window and refetches the current state of every object they name. It reads and
writes no dlt state (`created_cursor`, `events_cursor`, `inbox_seq`) and leaves the webhook inbox alone, so the next
incremental run behaves as if the reload never happened; merge on id makes it idempotent. It cannot be combined with
`mode` reconcile/full. If Stripe keeps no event older than the start (30-day retention), a warning says that changes
made in the window to objects created before it cannot be recovered from events (only `mode="reconcile"` can).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import dlt
import stripe
from dlt.sources import DltResource

from pipelines.common.config import ProviderConfig
from pipelines.common.interval import reload_interval as parse_reload_interval
from pipelines.common.raw_schema import Drift, drift_error

from . import settings
from .helpers import (
    account_created,
    fetched_at,
    get,
    invoice_lines,
    make_client,
    retrieve_many,
    walk_adaptive,
    walk_down,
)

log = logging.getLogger("opsdata.stripe")

_TS = {"data_type": "bigint", "nullable": True}
_TEXT = {"data_type": "text", "nullable": True}
_BOOL = {"data_type": "bool", "nullable": True}
COMMON_COLUMNS: dict[str, Any] = {"_fetched_at": {"data_type": "bigint", "dedup_sort": "desc"}, "deleted": _BOOL}
# Columns the models read that can be null in every row of a load (dlt would not create them): declared up front.
TABLE_COLUMNS: dict[str, dict[str, Any]] = {
    "customers": {"email": _TEXT, "currency": _TEXT},
    "subscriptions": {
        "trial_start": _TS,
        "trial_end": _TS,
        "canceled_at": _TS,
        "ended_at": _TS,
        "cancel_at": _TS,
        "cancel_at_period_end": _BOOL,
        "discounts": {"data_type": "json", "nullable": True},
    },
    "invoices": {
        "status_transitions__paid_at": _TS,
        "status_transitions__voided_at": _TS,
        "discounts": {"data_type": "json", "nullable": True},
    },
    "coupons": {
        "percent_off": {"data_type": "double", "nullable": True},
        "amount_off": _TS,
        "currency": _TEXT,
        "duration_in_months": _TS,
    },
    "prices": {
        "recurring__interval": _TEXT,
        "recurring__interval_count": _TS,
        "recurring__usage_type": _TEXT,
        "unit_amount": _TS,
    },
    "charges": {"failure_code": _TEXT, "failure_message": _TEXT, "customer": _TEXT},
    "refunds": {"reason": _TEXT},
    "payouts": {"failure_code": _TEXT, "failure_message": _TEXT, "failure_balance_transaction": _TEXT},
    "disputes": {"evidence_details__due_by": _TS},
    "balance_transactions": {"description": _TEXT},
}


def table_hints(table: str) -> dict[str, Any]:
    # A fresh dict per column: dlt writes the column name into each hint dict, so one shared by two columns (as `_TEXT`
    # is, and a single deepcopy keeps it shared) would be renamed to the second and the first column's hint lost.
    return {column: copy.deepcopy(hint) for column, hint in {**COMMON_COLUMNS, **TABLE_COLUMNS.get(table, {})}.items()}


def reload_interval(options: dict[str, Any]) -> tuple[int, int] | None:
    """The options' `[interval_start, interval_end)` as Stripe `created` bounds `(gte, lt)`, or None without them."""
    interval = parse_reload_interval("stripe", options)
    if interval is None:
        return None
    # `created` is whole seconds, so c >= start <=> c >= ceil(start) and c < end <=> c < ceil(end).
    return math.ceil(interval.start.timestamp()), math.ceil(interval.end.timestamp())


class _Plan:
    """Run-wide decisions, made once when the first resource starts (dlt state is only readable then)."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.mode = config.options.get("mode", "incremental")
        if self.mode not in ("incremental", "reconcile", "full"):
            raise ValueError(f"stripe: unknown mode {self.mode!r}; use incremental, reconcile or full")
        self.interval = reload_interval(config.options)
        """`(created_gte, created_lt)` of an interval reload, else None."""
        if self.interval and self.mode != "incremental":
            raise ValueError(
                f"stripe: mode={self.mode!r} re-reads everything and cannot be combined with a reload interval "
                "(interval_start / interval_end); pass one or the other"
            )
        self._lock = threading.Lock()
        self._client: stripe.StripeClient | None = None
        self._refresh: bool | None = None
        self.refetched: set[tuple[str, str]] = set()
        self._account_created: Future[int | None] | None = None
        self._changes: _Changes | None = None
        self._changes_lock = threading.Lock()

    @property
    def client(self) -> stripe.StripeClient:
        with self._lock:
            if self._client is None:
                self._client = make_client(self.config)
            return self._client

    def account_created(self) -> Callable[[], int | None]:
        """When the account was created (the first load's lower bound), as a call that waits for the answer.

        Asked once, in the background, by the first list that needs it: the lists send their first page (the newest
        objects, which needs no lower bound) meanwhile, and wait only where a page's split needs the bound. Asked
        first and waited for, it kept every list's first page behind one round trip (the sandbox's first answer,
        ~0.45 s, with the bucket refilling only up to its burst meanwhile).
        """
        with self._lock:
            if self._account_created is None:
                # The future keeps an error too (e.g. a rejected key), raised in every list that waits for it.
                asking = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stripe-account")
                self._account_created = asking.submit(account_created, self._client or make_client(self.config))
                asking.shutdown(wait=False)  # the one call runs on; the thread ends with it
            return self._account_created.result

    def refresh_mutable(self) -> bool:
        """True when the mutable lists must be re-read in full (reconcile/full mode, or the events cursor expired)."""
        with self._lock:
            if self._refresh is None:
                self._refresh = self._decide()
            return self._refresh

    def incremental(self) -> bool:
        """True for a run that follows changes (a saved events cursor, no full re-read, no reload interval)."""
        return not self.interval and bool(dlt.current.source_state().get("events_cursor")) and not self.refresh_mutable()

    def changes(self) -> _Changes:
        """The events since the cursor (API and webhook inbox), read once, by whichever resource asks first.

        Read before any mutable list of an incremental run: a list read after the events is at least as fresh as
        every event read, so an object it returns needs no refetch (and the next run reads later events).
        """
        with self._changes_lock:
            if self._changes is None:
                self._changes = _read_changes(self)
            return self._changes

    def _decide(self) -> bool:
        if self.mode in ("reconcile", "full"):
            log.info("stripe: %s mode, re-reading every mutable object in full", self.mode)
            return True
        cursor = dlt.current.source_state().get("events_cursor")
        if not cursor:
            return False  # first load: every list is read in full anyway
        client = self._client or make_client(self.config)
        try:
            client.v1.events.retrieve(cursor["id"])
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
            log.warning(
                "stripe: the last processed event %s (created %s) is older than Stripe's %s-day event retention; "
                "changes since then may be missing, re-reading all mutable objects in full",
                cursor["id"],
                cursor["created"],
                settings.EVENT_RETENTION_DAYS,
            )
            return True
        return False


def _list_resource(plan: _Plan, path: str, table: str, mutable: bool) -> DltResource:
    @dlt.resource(
        name=table, primary_key="id", write_disposition="merge", columns=table_hints(table), parallelized=True
    )
    def objects() -> Iterator[list[dict[str, Any]]]:
        if plan.interval:
            # Interval reload: exactly the objects created in the window. No state is read or written.
            yield from _pages(plan, path, {"gte": plan.interval[0], "lt": plan.interval[1]})
            return
        # Cursor kept by hand, not with dlt.sources.incremental: a full refresh must yield rows older than the cursor,
        # which incremental would filter out.
        state = dlt.current.resource_state()
        cursor = state.get("created_cursor")
        seen_at_cursor = set(state.get("ids_at_cursor", []))
        full = cursor is None or (mutable and plan.refresh_mutable())
        # Full: from the account's creation (bounds the parallel windows). Else gte the cursor: same-second arrivals
        # are re-read, and those already loaded at the cursor's second (`ids_at_cursor`) are skipped, so a re-run
        # with no change loads nothing.
        start = None if full else cursor
        created = {"gte": start} if start is not None else {}
        # An incremental run lists after the events are read; each changed object the lists return is fresh.
        pending = dict(plan.changes().claim(path)) if mutable and plan.incremental() else {}
        newest, at_newest = cursor or 0, set(seen_at_cursor)
        # Those already loaded at the cursor's second are skipped, unless they changed since (then they are fresh).
        skip = set() if full else seen_at_cursor - pending.keys()
        for page in _pages(plan, path, created, skip=skip, floor=plan.account_created() if full else None):
            for obj in page:
                when = int(obj["created"])
                if when > newest:
                    newest, at_newest = when, set()
                if when == newest:
                    at_newest.add(obj["id"])
                pending.pop(obj["id"], None)
            if page:
                yield page
        if pending:
            yield from _relist(plan, path, pending, below=cursor or 0)
            yield from _refetch(plan, {(path, oid): obj for oid, obj in pending.items()})
        state["created_cursor"] = newest
        state["ids_at_cursor"] = sorted(at_newest)

    return objects


def _pages(
    plan: _Plan,
    path: str,
    created: dict[str, int],
    skip: set[str] | None = None,
    floor: Callable[[], int | None] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """One list's objects created in `created` (but those in `skip`), page by page, ready to load. `floor`: the
    range's lower bound when `created` has none (see `walk_adaptive`)."""
    params = settings.LIST_PARAMS.get(path, {})
    for page in walk_adaptive(plan.client, path, params, created, settings.WORKERS, floor=floor):
        if skip:
            page = [obj for obj in page if obj["id"] not in skip]
        stamp = fetched_at()
        for obj in page:
            _prepare(plan, path, obj, stamp)
        yield page


def _prepare(plan: _Plan, path: str, obj: dict[str, Any], stamp: int) -> None:
    obj["_fetched_at"] = stamp
    obj.setdefault("deleted", False)
    if path == "invoices":
        invoice_lines(plan.client, obj)
    if path in ("subscriptions", "invoices"):
        # Kept as JSON: a list of expanded discount objects whose optional fields dlt would otherwise drop when null.
        obj["discounts"] = json.dumps(obj.get("discounts") or [])
    _drop_nulls(obj)


def _drop_nulls(obj: dict[str, Any]) -> None:
    """Remove null fields (in place, nested dicts and lists of dicts too): a missing key loads as the same NULL.

    Why: a Stripe object is mostly nulls (an invoice carries ~40), and dlt's normalizer checks every null value
    against the schema one by one; that was the largest single cost of the normalize step.
    """
    nulls = [key for key, value in obj.items() if value is None]
    for key in nulls:
        del obj[key]
    for value in obj.values():
        if isinstance(value, dict):
            _drop_nulls(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _drop_nulls(item)


def _events_resource(plan: _Plan) -> DltResource:
    # No column hints here: hints given to a resource that also routes rows to other tables leak into them.
    @dlt.resource(name="events", primary_key="id", write_disposition="merge")
    def events() -> Iterator[Any]:
        if plan.interval:
            yield from _interval_events(plan, *plan.interval)
            return
        state = dlt.current.source_state()
        if plan.incremental():
            changes = plan.changes()
            yield from map(_event_table, changes.pages())
            # The lists refresh the objects of their own paths; those of lists not selected in this run are ours.
            yield from _refetch(plan, changes.unclaimed(_selected_paths()))
            state["events_cursor"] = changes.newest
            if changes.inbox_seq is not None:
                state["inbox_seq"] = changes.inbox_seq
            return
        cursor = state.get("events_cursor")
        first_load = cursor is None
        refresh = plan.refresh_mutable()
        changed: dict[tuple[str, str], dict[str, Any]] = {}
        newest = dict(cursor) if cursor else None

        # 1. Stripe's event log since the last processed event (first load: all it keeps, 30 days).
        created = {"gte": cursor["created"]} if cursor else {}
        seen_at_cursor = set(cursor.get("ids", [])) if cursor else set()
        events_read = 0
        for page in walk_adaptive(plan.client, "events", {}, created, settings.WORKERS):
            batch: list[dict[str, Any]] = []  # yielded per page: 30 days of events at once would be held in memory
            for event in page:
                if event["id"] in seen_at_cursor:
                    continue
                batch.append(_event_row(event, "api"))
                if not first_load and not refresh:
                    _note_change(event, changed)
                newest = _advance(newest, event)
            events_read += len(batch)
            if batch:
                yield _event_table(batch)

        # 2. Webhook deliveries stored by the receiver since the last drained sequence number.
        webhook_events, last_seq = _webhook_deliveries(plan, int(state.get("inbox_seq", 0)))
        if not refresh:
            for event in webhook_events:
                _note_change(event, changed)
        if webhook_events:
            yield _event_table([_event_row(event, "webhook") for event in webhook_events])
        if last_seq is not None:
            state["inbox_seq"] = last_seq

        # 3. The current state of every object a webhook says changed (the lists read everything else in full).
        yield from _refetch(plan, changed)
        if newest:
            state["events_cursor"] = newest

    return events


def _interval_events(plan: _Plan, start: int, end: int) -> Iterator[Any]:
    """Interval reload: the events created in `[start, end)` and the current state of every object they name.

    Neither the events cursor nor the inbox is touched: webhooks carry the same events, and draining them here
    would hide them from the next incremental run.
    """
    _warn_if_beyond_retention(plan, start)
    changed: dict[tuple[str, str], dict[str, Any]] = {}
    batch: list[dict[str, Any]] = []
    for page in walk_adaptive(plan.client, "events", {}, {"gte": start, "lt": end}, settings.WORKERS):
        for event in page:
            batch.append(_event_row(event, "api"))
            _note_change(event, changed)
    if batch:
        yield _event_table(batch)
    yield from _refetch(plan, changed)


def _warn_if_beyond_retention(plan: _Plan, start: int) -> None:
    """Warn when Stripe keeps no event older than `start`: its 30-day retention cut part of the window's changes.

    Stripe is asked (one request) rather than our clock compared with Stripe's: only Stripe knows what it still
    keeps, and the sandbox's clock is simulated. (An account with no event at all before `start` warns too.)
    """
    if get(plan.client, "/v1/events", {"limit": 1, "created": {"lt": start}})["data"]:
        return
    log.warning(
        "stripe: the reload interval starts at %s, before the oldest event Stripe still keeps (%s-day retention): "
        "objects created in the interval are reloaded from the lists, but changes made in it to objects created "
        "earlier cannot be recovered from events for the expired part (mode=reconcile re-reads them in full)",
        datetime.fromtimestamp(start, UTC).isoformat(),
        settings.EVENT_RETENTION_DAYS,
    )


def _refetch(plan: _Plan, changed: dict[tuple[str, str], dict[str, Any]]) -> Iterator[Any]:
    """The current state of each changed object (once per run), routed to its list's table."""
    with plan._lock:
        wanted = [key for key in changed if key not in plan.refetched]
        plan.refetched.update(wanted)
    if wanted:
        log.info("stripe: refetching %s changed %s one by one", len(wanted), wanted[0][0] if len({k[0] for k in wanted}) == 1 else "objects")
    for path, object_id, obj in retrieve_many(plan.client, wanted, settings.WORKERS):
        table = settings.LISTS[path][0]
        if obj is None:  # deleted since: keep the last snapshot the event carried, flagged
            obj = dict(changed[(path, object_id)])
            obj["deleted"] = True
        _prepare(plan, path, obj, fetched_at())
        # The table's hints (merge on id, dedup_sort on _fetched_at) come from its list resource.
        yield dlt.mark.with_table_name(obj, table)


class _Changes:
    """What an incremental run learnt from the events: each changed object once (the latest snapshot an event
    carried, kept for objects Stripe no longer has), and the event rows themselves, spooled to a temporary file
    until the events resource loads them (memory stays flat however many events a long pause left)."""

    def __init__(self) -> None:
        self.by_path: dict[str, dict[str, dict[str, Any]]] = {}
        self._created: dict[tuple[str, str], int] = {}
        self.newest: dict[str, Any] | None = None
        self.inbox_seq: int | None = None
        self.events = 0
        self._claimed: set[str] = set()
        self._lock = threading.Lock()
        self._spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8", prefix="stripe-events-")

    def note(self, event: dict[str, Any]) -> None:
        obj = (event.get("data") or {}).get("object") or {}
        path = settings.OBJECT_TYPES.get(obj.get("object", ""))
        if not path or not obj.get("id"):
            return
        key, when = (path, obj["id"]), int(event.get("created") or 0)
        if when >= self._created.get(key, -1):  # pages arrive out of order: keep the newest event's snapshot
            self._created[key] = when
            self.by_path.setdefault(path, {})[obj["id"]] = obj

    def spool(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._spool.write(json.dumps(rows) + "\n")
            self.events += len(rows)

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        self._spool.seek(0)
        for line in self._spool:
            yield json.loads(line)
        self._spool.close()

    def claim(self, path: str) -> dict[str, dict[str, Any]]:
        """The changed objects of `path`, which its list resource now answers for."""
        with self._lock:
            self._claimed.add(path)
            return self.by_path.get(path, {})

    def unclaimed(self, selected: set[str] | None) -> dict[tuple[str, str], dict[str, Any]]:
        """Changed objects of the lists not selected in this run (None: all are)."""
        paths = [p for p in self.by_path if selected is not None and p not in selected]
        return {(p, oid): obj for p in paths for oid, obj in self.by_path[p].items()}


def _read_changes(plan: _Plan) -> _Changes:
    """Stripe's event log since the last processed event, then the webhook inbox since the last drained row."""
    state = dlt.current.source_state()
    cursor = state["events_cursor"]
    changes = _Changes()
    newest: dict[str, Any] = dict(cursor)
    seen_at_cursor = set(cursor.get("ids", []))
    for page in walk_adaptive(plan.client, "events", {}, {"gte": cursor["created"]}, settings.WORKERS):
        rows = []
        for event in page:
            if event["id"] in seen_at_cursor:
                continue
            rows.append(_event_row(event, "api"))
            changes.note(event)
            newest = _advance(newest, event)
        changes.spool(rows)
    changes.newest = newest
    webhook_events, last_seq = _webhook_deliveries(plan, int(state.get("inbox_seq", 0)))
    for event in webhook_events:
        changes.note(event)
    changes.spool([_event_row(event, "webhook") for event in webhook_events])
    if last_seq is not None:
        changes.inbox_seq = last_seq
    changed = sum(len(ids) for ids in changes.by_path.values())
    log.info("stripe: %s events name %s changed objects", changes.events, changed)
    return changes


def _webhook_deliveries(plan: _Plan, inbox_seq: int) -> tuple[list[dict[str, Any]], int | None]:
    """The events the webhook receiver stored after `inbox_seq` (parsed), and the last sequence number read (None:
    nothing new). Rows up to `inbox_seq` were committed with the previous load, so they are pruned first."""
    inbox = _open_inbox(plan)
    if inbox is None:
        return [], None
    if inbox_seq:
        inbox.prune("stripe", inbox_seq)
    rows = inbox.after("stripe", inbox_seq, limit=100_000)
    events = []
    for row in rows:
        try:
            events.append(json.loads(row.payload))
        except ValueError:
            log.error("stripe: inbox row %s is not JSON; skipped (the receiver should never store it)", row.seq)
    return events, (rows[-1].seq if rows else None)


def _selected_paths() -> set[str] | None:
    """The list paths whose resources run in this extraction (None when dlt cannot tell: then all of them)."""
    try:
        selected = set(dlt.current.source().selected_resources)
    except Exception:  # noqa: BLE001 - outside a source context every list is assumed selected
        return None
    return {path for path, (table, _mutable) in settings.LISTS.items() if table in selected}


def _relist(plan: _Plan, path: str, pending: dict[str, dict[str, Any]], below: int) -> Iterator[list[dict[str, Any]]]:
    """Re-list the changed objects created before the list's cursor by `created` range, while that is cheaper.

    Stripe lists have no `updated` filter, but they do filter by `created`: a page of 100 newest-first objects
    below the cursor returns the current state of every changed object among them for one request. Pages are
    read down from the cursor while the density seen so far says reaching the next changed objects costs fewer
    pages than fetching them one by one; the rest are refetched by id. Objects found here leave `pending`.
    """
    older = sorted((c for c in map(_created_of, pending.values()) if 0 <= c < below), reverse=True)
    if len(older) < settings.RELIST_MIN_CHANGED:
        return
    params = settings.LIST_PARAMS.get(path, {})
    listed = 0
    for page in walk_down(plan.client, path, params, {"gte": older[-1], "lt": below}):
        stamp = fetched_at()
        for obj in page:
            _prepare(plan, path, obj, stamp)
            pending.pop(obj["id"], None)
        yield page
        listed += len(page)
        oldest = int(page[-1]["created"])
        density = listed / max(1, below - oldest)  # objects per second in the range read so far
        left = sorted((c for c in map(_created_of, pending.values()) if 0 <= c < oldest), reverse=True)
        # Worth going on if some j-th next changed object is reachable in fewer pages than j refetches.
        if not any(density * (oldest - c) / settings.PAGE_SIZE < j for j, c in enumerate(left, start=1)):
            return


def _created_of(obj: dict[str, Any]) -> int:
    created = obj.get("created")
    return int(created) if isinstance(created, int | float) else -1  # no `created`: refetched by id


def _event_row(event: dict[str, Any], via: str) -> dict[str, Any]:
    data = event.get("data") or {}
    obj = data.get("object") or {}
    return {
        "id": event["id"],
        "type": event.get("type"),
        "created": event.get("created"),
        "api_version": event.get("api_version"),
        "object_type": obj.get("object"),
        "object_id": obj.get("id"),
        "data": json.dumps(data),
        "_received_via": via,
        "_fetched_at": fetched_at(),
    }


EVENT_COLUMNS: dict[str, str] = {
    "id": "text",
    "type": "text",
    "created": "bigint",
    "api_version": "text",
    "object_type": "text",
    "object_id": "text",
    "data": "text",
    "_received_via": "text",
    "_fetched_at": "bigint",
}
"""The `events` table's columns (`_event_row`) and their dlt types, as rows gave them. Event pages are yielded as
arrow tables of these types: dlt writes them to its files as they come, where rows went through its per-row extract,
normalize and type coercion after the last request (a medium full load's 5,200 events). A value of another type
fails the run as schema drift naming `events.<column>`, as the shared contract does for rows."""


def _event_table(rows: list[dict[str, Any]]) -> Any:
    """`_event_row`s as one `pyarrow.Table` of `EVENT_COLUMNS`' types, or `SchemaDriftError` naming the column."""
    import pyarrow as pa  # here, not at import: the first events page arrives while the lists are still being read

    if pa.default_memory_pool().backend_name != "system":
        # pyarrow's own pool (jemalloc/mimalloc) keeps what it frees, out of reach of the malloc_trim before the load
        # (pipelines/run.py): 100 MB more peak RSS at the xlarge world. The same process-wide choice as Klaviyo's.
        pa.set_memory_pool(pa.system_memory_pool())
    types = {"text": pa.string(), "bigint": pa.int64()}
    arrays = []
    for column, kind in EVENT_COLUMNS.items():
        values = [row.get(column) for row in rows]
        try:
            arrays.append(pa.array(values, type=types[kind]))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrived = next((_kind(v) for v in values if v is not None and not _fits(v, types[kind])), "other")
            raise drift_error("stripe", [Drift("events", column, kind, arrived, f"an event's {column}")]) from None
    return pa.Table.from_arrays(arrays, names=list(EVENT_COLUMNS))


def _fits(value: Any, kind: Any) -> bool:
    import pyarrow as pa

    try:
        pa.array([value], type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return False
    return True


def _kind(value: Any) -> str:
    """A value's JSON kind, for drift messages (never the value). isinstance, not type: the SDK's JSON objects are
    OrderedDicts."""
    kinds = ((bool, "bool"), (int, "bigint"), (float, "double"), (str, "text"), (dict, "object"), (list, "array"))
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _note_change(event: dict[str, Any], changed: dict[tuple[str, str], dict[str, Any]]) -> None:
    obj = (event.get("data") or {}).get("object") or {}
    path = settings.OBJECT_TYPES.get(obj.get("object", ""))
    if path and obj.get("id"):
        changed[(path, obj["id"])] = obj


def _advance(newest: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any]:
    """Cursor = newest event time plus the ids seen at that second (Stripe timestamps are whole seconds)."""
    created = int(event["created"])
    if newest is None or created > newest["created"]:
        return {"created": created, "id": event["id"], "ids": [event["id"]]}
    if created == newest["created"] and event["id"] not in newest["ids"]:
        return {**newest, "ids": [*newest["ids"], event["id"]]}
    return newest


def _open_inbox(plan: _Plan) -> Any:
    from webhooks.inbox import Inbox, default_path

    path = plan.config.options.get("inbox_path") or default_path()
    return Inbox(path)


@dlt.source(name="stripe")
def source(config: ProviderConfig) -> list[DltResource]:
    """All Stripe resources for one resolved configuration.

    Options: `mode` (incremental|reconcile|full), or `interval_start` / `interval_end` to reload one interval.
    """
    plan = _Plan(config)
    resources = [_list_resource(plan, path, table, mutable) for path, (table, mutable) in settings.LISTS.items()]
    resources.append(_events_resource(plan))
    return resources


__all__ = ["reload_interval", "source"]
