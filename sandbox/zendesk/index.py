"""Indexes that let the Zendesk simulator answer a page in time proportional to the page, not to the world.

The straightforward answer to an incremental export page lists every ticket (or metric event, ticket event, user,
organization) of the world, computes its timestamp as of the export cutoff, sorts them and slices the page out, on
every page: at the large world (20,189 tickets, 321,329 metric events) that took longer than the client's 60 s read
timeout once the pipeline's five exports ran in parallel on a busy machine. Instead:

- records whose timestamp never changes (organizations by creation, metric events and ticket events by their time)
  are sorted once per world by (unix second, id); the cutoff only hides the later ones, so a page is a bisection for
  `start_time` or the cursor, one for the cutoff, and a slice;
- tickets and users are stamped with their `updated_at` as of the cutoff, which moves with `world.now`: theirs are
  sorted once per cutoff (the last few are kept; a walk's pages all share one cutoff);
- a list whose filter is not a range of its order (satisfaction ratings by score and creation, in id order) is
  filtered once per cutoff and filter, and each page slices that.

Every answer equals the straightforward filter (tests/sandbox/zendesk/test_zendesk_index.py compares both).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import Any

from sandbox.common.window import Window

from .world import ZendeskWorld

CUTOFFS_KEPT = 4
"""Per-cutoff indexes kept: the current `now` and a few before it (a test may set `now` back)."""


class ByTime:
    """Records in ascending (unix second, id) order, the order of Zendesk's incremental exports."""

    def __init__(self, rows: Iterable[tuple[int, int, Any]]) -> None:
        ordered = sorted(rows, key=lambda r: (r[0], r[1]))
        self.times = [r[0] for r in ordered]
        self.ids = [r[1] for r in ordered]
        self.records = [r[2] for r in ordered]

    def __len__(self) -> int:
        return len(self.records)

    def upto(self, second: int) -> int:
        """The end of the records stamped at or before `second`."""
        return bisect_right(self.times, second)

    def since(self, second: int) -> int:
        """The first record stamped at or after `second`."""
        return bisect_left(self.times, second)

    def after(self, second: int, record_id: int) -> int:
        """The first record whose (second, id) is greater than the cursor's."""
        return bisect_right(self.ids, record_id, self.since(second), self.upto(second))

    def row(self, i: int) -> tuple[int, int, Any]:
        return self.times[i], self.ids[i], self.records[i]


def _second(t: datetime) -> int:
    if t.microsecond:
        # The world stamps whole minutes; a whole second is what makes `<= cutoff` a bisection on the second.
        raise ValueError(f"zendesk world timestamps are whole seconds, not {t.isoformat()}")
    return int(t.timestamp())


class ExportIndex:
    """One Zendesk world's export orders: fixed ones built with it, per-cutoff ones when first asked."""

    def __init__(self, zw: ZendeskWorld) -> None:
        self.zw = zw
        self.organizations = ByTime((_second(o.created_at), o.id, o) for o in zw.organizations)
        self.metric_events = ByTime((_second(e.time), e.id, e) for e in zw.metric_events)
        self.ticket_events: ByTime = ByTime((_second(u.at), u.id, (t, u)) for t in zw.tickets for u in t.updates)
        self.survey_times = [s.responded_at for s in zw.survey_responses]  # already in responded_at order
        self._cached: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def _per_cutoff(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """`build()` once per key (whose second item is the cutoff); only the last few cutoffs are kept."""
        with self._lock:
            if key in self._cached:
                return self._cached[key]
            cutoffs = {k[1] for k in self._cached}  # type: ignore[index]
            if key[1] not in cutoffs and len(cutoffs) >= CUTOFFS_KEPT:
                self._cached.clear()
            value = self._cached[key] = build()
            return value

    def tickets(self, at: datetime, exclude_deleted: bool = False) -> ByTime:
        """Tickets created by `at`, by their `updated_at` as of `at` (without the deleted ones if asked)."""

        def build() -> ByTime:
            return ByTime((int(t.updated_at(at).timestamp()), t.id, t) for t in self.zw.visible_tickets(at)
                          if not (exclude_deleted and t.status_at(at) == "deleted"))

        return self._per_cutoff(("tickets", at, exclude_deleted), build)  # type: ignore[no-any-return]

    def users(self, at: datetime) -> ByTime:
        """Users created by `at`, by their `updated_at` as of `at`."""

        def build() -> ByTime:
            return ByTime((int(u.updated_at(at).timestamp()), u.id, u) for u in self.zw.visible_users(at))

        return self._per_cutoff(("users", at), build)  # type: ignore[no-any-return]

    def filtered(self, name: str, at: datetime, key: Hashable, build: Callable[[], list[Any]]) -> list[Any]:
        """A list filtered once per cutoff and filter `key` (every page of one walk asks the same)."""
        return self._per_cutoff((name, at, key), build)  # type: ignore[no-any-return]

    def visible_surveys(self, at: datetime, created_from: datetime | None = None, created_to: datetime | None = None) -> Window:
        """The responses given by `at`, within `filter[created_at_start]` / `[created_at_end]` (their `created_at`)."""
        lo = 0 if created_from is None else bisect_left(self.survey_times, created_from)
        hi = bisect_right(self.survey_times, at if created_to is None else min(at, created_to))
        return Window(self.zw.survey_responses, lo, max(lo, hi))


_build_lock = threading.Lock()


def export_index(zw: ZendeskWorld) -> ExportIndex:
    """The world's export index, built on first use and kept on the world (it lives as long as the world does)."""
    index = zw.__dict__.get("_export_index")
    if index is None:
        with _build_lock:
            index = zw.__dict__.get("_export_index")
            if index is None:
                index = zw.__dict__["_export_index"] = ExportIndex(zw)
    return index  # type: ignore[no-any-return]

