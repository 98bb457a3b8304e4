"""Indexes that let the Klaviyo simulator answer a page in time proportional to the page, not to the world.

The straightforward answer to `GET /api/events?filter=...&page[cursor]=...` filters every event of the world and
slices the page out of the result, on every page: at the large world that was 1.3 s of CPU per page. The world's
events never change after generation (`now` only hides the ones stamped later), so they are indexed once per world
by metric, in their (datetime, id) order, and a page is two bisections and a slice. Profiles and group members do
depend on `now` (a profile's `updated` moves with suppressions and edits; members join over time), so theirs are
rebuilt when `now` moves (`World.advance`) or when a bulk import changes what a profile shows.

Only conditions an index answers exactly are planned through it (`equals(metric_id,...)`, range conditions on the
sort field); any other condition is checked on the narrowed candidates with the simulator's own `matches`, so every
answer equals the straightforward filter (tests/sandbox/klaviyo/test_klaviyo_index.py compares both).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

RANGE_OPERATORS = ("greater-than", "greater-or-equal", "less-than", "less-or-equal")


def narrow(keys: Sequence[Any], lo: int, hi: int, operator: str, value: Any) -> tuple[int, int]:
    """Shrink `[lo, hi)` of ascending `keys` to the keys satisfying `key <operator> value`."""
    if operator == "greater-than":
        return max(lo, bisect_right(keys, value, lo, hi)), hi
    if operator == "greater-or-equal":
        return max(lo, bisect_left(keys, value, lo, hi)), hi
    if operator == "less-than":
        return lo, min(hi, bisect_left(keys, value, lo, hi))
    if operator == "less-or-equal":
        return lo, min(hi, bisect_right(keys, value, lo, hi))
    raise ValueError(operator)


@dataclass
class Compiled:
    """One filter condition with its value parsed once per request (not once per record)."""

    operator: str
    field: str
    raw: str
    test: Callable[[Any, Any], bool]
    value: Any = None
    error: Exception | None = None
    """The parse error, raised when the condition is first checked (as the straightforward filter does)."""


class EventIndex:
    """Every event of a Klaviyo world, per metric id and in all, in the world's (datetime, id) order.

    `heads` (optional, `render_head(event)` per event) keeps each event's serialised JSON up to the first part that
    depends on the request (its URLs carry the request's host): a page then costs one join per event, not a render.
    About 500 bytes an event (some 300 MB at the large world), bought once per world like the rest of the index."""

    def __init__(self, events: Sequence[Any], metric_ids: dict[str, str], render_head: Callable[[Any], bytes] | None = None) -> None:
        self.all = list(events)
        self._metric_ids = metric_ids
        self.heads: dict[str, bytes] = {e.id: render_head(e) for e in self.all} if render_head else {}
        self.all_times = [e.datetime for e in self.all]
        self.by_metric: dict[str, list[Any]] = {}
        for e in self.all:
            self.by_metric.setdefault(metric_ids[e.metric], []).append(e)
        self.times = {mid: [e.datetime for e in evs] for mid, evs in self.by_metric.items()}
        self._bodies_root: bytes | None = None
        self._bodies: dict[int, list[bytes]] = {}

    def bodies_of(self, events: Sequence[Any], root: bytes, render_body: Callable[[bytes, Any, bytes], bytes]) -> list[bytes] | None:
        """The whole JSON of each of `events` (the index's `all` or one metric's list, as `select` hands them out), in
        their order, for the base URL `root`: `render_body(root, event, head)` once per event, for the first root
        asked (a server is reached under one; a page for another root is joined from the heads, or rendered once the
        heads are gone). Built on the first page, as the heads with the world: a page is then a slice of a list, where
        the per-event tail (six URLs) was most of the simulator's CPU in a large benchmark and looking each event's
        body up by id most of what was left. The bodies replace the heads, so the memory stays about what they took."""
        if self._bodies_root is None and self.heads:
            # Rendered metric by metric, so that a metric's bodies lie in memory in its order: a page's join then
            # reads one stretch of the heap, not a body in every few of all the metrics' (a fifth faster, cold).
            per_metric = {mid: [render_body(root, e, self.heads[e.id]) for e in events] for mid, events in self.by_metric.items()}
            following = {mid: iter(bodies) for mid, bodies in per_metric.items()}
            every = [next(following[self._metric_ids[e.metric]]) for e in self.all]  # `by_metric` keeps the order of `all`
            self._bodies = {id(self.all): every} | {id(self.by_metric[mid]): bodies for mid, bodies in per_metric.items()}
            self._bodies_root, self.heads = root, {}
        return self._bodies.get(id(events)) if root == self._bodies_root else None

    def select(self, conditions: list[Compiled], now: datetime) -> tuple[Sequence[Any], int, int, list[Compiled]] | None:
        """`(events, lo, hi, rest)`: `events[lo:hi]` are the visible events satisfying the indexed conditions, `rest`
        the conditions left to check on them. None when a condition does not parse (the straightforward filter
        decides when that error surfaces)."""
        if any(c.error is not None for c in conditions):
            return None
        metrics = {c.value for c in conditions if c.field == "metric_id" and c.operator == "equals"}
        if len(metrics) > 1:
            return [], 0, 0, []  # one event has one metric
        items, times = self.all, self.all_times
        if metrics:
            metric = metrics.pop()
            items, times = self.by_metric.get(metric, []), self.times.get(metric, [])
        lo, hi = 0, bisect_right(times, now)
        rest = []
        for c in conditions:
            if c.field in ("datetime", "timestamp") and c.operator in RANGE_OPERATORS and isinstance(c.value, datetime):
                lo, hi = narrow(times, lo, hi, c.operator, c.value)
            elif not (c.field == "metric_id" and c.operator == "equals"):
                rest.append(c)
        return items, lo, hi, rest


class SortedRecords:
    """Records in ascending (sort value, id) order, with the sort values for bisection (profiles at one `now`)."""

    def __init__(self, rows: list[tuple[Any, str, Any]]) -> None:
        rows.sort(key=lambda r: (r[0], r[1]))
        self.keys = [r[0] for r in rows]
        self.records = [r[2] for r in rows]
        self.bodies: list[bytes] | None = None
        """Each record serialised as a page shows it, for `bodies_for` (what the serialisation depends on)."""
        self.bodies_for: Any = None

    def keep_bodies(self, made_for: Any, bodies: list[bytes]) -> None:
        assert len(bodies) == len(self.records)
        self.bodies, self.bodies_for = bodies, made_for

    def select(self, conditions: list[Compiled], field: str) -> tuple[int, int, list[Compiled]] | None:
        """`(lo, hi, rest)`: `records[lo:hi]` satisfy the range conditions on the sort `field`; `rest` are left to check."""
        if any(c.error is not None for c in conditions):
            return None
        lo, hi = 0, len(self.keys)
        rest = []
        for c in conditions:
            if c.field == field and c.operator in RANGE_OPERATORS and isinstance(c.value, datetime):
                lo, hi = narrow(self.keys, lo, hi, c.operator, c.value)
            else:
                rest.append(c)
        return lo, hi, rest
