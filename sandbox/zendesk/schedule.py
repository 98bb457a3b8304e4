"""Business-hours arithmetic for a Zendesk schedule: weekly intervals plus whole-day holidays.

Zendesk describes a schedule as intervals in minutes from the start of the week (Sunday 00:00) in the schedule's
time zone, and holidays as date ranges on which the schedule is closed
(https://developer.zendesk.com/api-reference/ticketing/ticket-management/schedules/). Business minutes are the
minutes inside open intervals; SLA targets and ticket metrics "in business hours" count only those.

The world's schedule is in UTC (no daylight-saving jumps), and every world timestamp is minute-aligned, so every
count here is an exact integer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

WEEK_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class Holiday:
    id: int
    name: str
    start_date: date
    end_date: date
    """Inclusive, as Zendesk's holiday objects give it."""

    def covers(self, day: date) -> bool:
        return self.start_date <= day <= self.end_date


@dataclass
class Schedule:
    id: int
    name: str
    time_zone: str
    intervals: list[tuple[int, int]]
    """(start_time, end_time) in minutes from Sunday 00:00, Zendesk's encoding."""
    holidays: list[Holiday] = field(default_factory=list)
    created_at: datetime | None = None

    def _day_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The day's open intervals, computed once per day (the world's SLA clocks ask for the same days again and
        again; the intervals and holidays never change after the schedule is built)."""
        cache: dict[date, tuple[tuple[datetime, datetime], ...]] = self.__dict__.setdefault("_days", {})
        found = cache.get(day)
        if found is None:
            found = cache[day] = tuple(self._compute_day_intervals(day))
        return found

    def _compute_day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if any(h.covers(day) for h in self.holidays):
            return []
        # Python: Monday=0 .. Sunday=6; Zendesk's week starts on Sunday.
        week_day = (day.weekday() + 1) % 7
        day_start = week_day * 1440
        midnight = datetime(day.year, day.month, day.day, tzinfo=self._tz())
        out = []
        for start, end in self.intervals:
            lo, hi = max(start, day_start), min(end, day_start + 1440)
            if lo < hi:
                out.append((midnight + timedelta(minutes=lo - day_start), midnight + timedelta(minutes=hi - day_start)))
        return out

    def _tz(self):  # type: ignore[no-untyped-def]
        from datetime import UTC

        if self.time_zone != "UTC":
            raise ValueError("the sandbox world only uses UTC schedules")
        return UTC

    def is_open(self, at: datetime) -> bool:
        return any(lo <= at < hi for lo, hi in self._day_intervals(at.date()))

    def business_minutes(self, start: datetime, end: datetime) -> int:
        """Open minutes in [start, end)."""
        if end <= start:
            return 0
        total = 0.0
        day = start.date()
        while day <= end.date():
            for lo, hi in self._day_intervals(day):
                a, b = max(lo, start), min(hi, end)
                if a < b:
                    total += (b - a).total_seconds() / 60
            day += timedelta(days=1)
        return int(round(total))

    def add_business_minutes(self, start: datetime, minutes: float) -> datetime:
        """The instant at which `minutes` open minutes have elapsed since `start` (start itself if 0)."""
        remaining = timedelta(minutes=minutes)
        day = start.date()
        for _ in range(3700):  # ten years of days: a schedule with no open time at all must not loop forever
            for lo, hi in self._day_intervals(day):
                a = max(lo, start)
                if a >= hi:
                    continue
                if a + remaining <= hi:
                    return a + remaining
                remaining -= hi - a
            day += timedelta(days=1)
        raise ValueError(f"schedule {self.name!r} has no open time to add {minutes} minutes to")

    def next_open(self, at: datetime) -> datetime:
        """`at` if open, else the start of the next open interval."""
        return self.add_business_minutes(at, 0) if not self.is_open(at) else at
