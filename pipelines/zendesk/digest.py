"""The Support section of the Slack digest: reads only Zendesk's published tiles; None when they are not published.

Columns as published by dbt_project/models/tiles/zendesk/_zendesk__tiles.yml. A daily digest shows the day's
median first reply; medians do not add up, so a weekly digest shows volumes, SLA and CSAT only.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from notifications import blocks as bk
from notifications.digest import Period, Section
from notifications.tiles import TileReader

LOW_CSAT = 0.8
"""CSAT % under 80 % (with at least MIN_ANSWERS answers) is worth a look."""
MIN_ANSWERS = 5
BACKLOG_GROWTH_ALERT = Decimal("0.30")
MIN_BACKLOG_FOR_ALERT = 10
METRIC_LABELS = {"first_reply_time": "first reply", "next_reply_time": "next reply", "periodic_update_time": "periodic update",
                 "requester_wait_time": "requester wait", "agent_work_time": "agent work", "total_resolution_time": "resolution"}


def _minutes(value: Any) -> str:
    if value is None:
        return "n/a"
    minutes = int(round(float(value)))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if hours < 48 else f"{hours / 24:.1f} days"


def _sums(reader: TileReader, table: str, date_col: str, cols: list[str], start: date, end: date, where: str = "") -> dict[str, Any]:
    sums = ", ".join(f'sum({c}) as "{c}"' for c in cols)
    rows = reader.query(f"select {sums} from {reader.ref(table)} where {date_col} between ? and ? {where}", [start, end])
    return rows[0] if rows else {}


def zendesk_section(reader: TileReader, period: Period) -> Section | None:
    lines: list[str] = []
    attention: list[str] = []
    prev = period.previous
    overview = "zendesk_support_overview"
    if reader.has(overview, "date_day", "tickets_created", "tickets_solved", "open_backlog"):
        cols = ["tickets_created", "tickets_solved", "tickets_reopened"]
        now, before = _sums(reader, overview, "date_day", cols, period.start, period.end), _sums(reader, overview, "date_day", cols, prev.start, prev.end)
        backlog = reader.query(f"select date_day, open_backlog from {reader.ref(overview)} where date_day in (?, ?)", [period.end, prev.end])
        at = {r["date_day"]: r["open_backlog"] for r in backlog}
        created, solved = now.get("tickets_created") or 0, now.get("tickets_solved") or 0
        lines.append(f"*Tickets* {bk.number(created)} new  {bk.change(created, before.get('tickets_created') or 0)} · "
                     f"{bk.number(solved)} solved · {bk.number(now.get('tickets_reopened'))} reopened")
        if period.end in at:
            lines.append(f"Open backlog {bk.number(at[period.end])}  {bk.change(at[period.end], at.get(prev.end))}")
            growth = bk.ratio_change(at[period.end], at.get(prev.end))
            if growth is not None and growth >= BACKLOG_GROWTH_ALERT and at[period.end] >= MIN_BACKLOG_FOR_ALERT:
                attention.append(f"Support backlog grew {growth * 100:.0f}% to {at[period.end]} open tickets")
        if period.days == 1 and reader.has(overview, "first_reply_median_business_minutes"):
            day = reader.query(
                f"select first_reply_median_business_minutes as frb, first_reply_median_calendar_minutes as frc, "
                f"tickets_per_100_orders as per100 from {reader.ref(overview)} where date_day = ?", [period.end])
            if day and day[0]["frc"] is not None:
                lines.append(f"First reply (median) {_minutes(day[0]['frb'])} in business hours, {_minutes(day[0]['frc'])} calendar")
            if day and day[0]["per100"] is not None:
                lines.append(f"Support load {float(day[0]['per100']):.1f} tickets per 100 orders")
    sla = "zendesk_sla_performance"
    if reader.has(sla, "date_day", "sla_metric", "targets_achieved", "targets_breached"):
        rows = reader.query(
            f"select sla_metric, sum(targets_achieved) as achieved, sum(targets_breached) as breached from {reader.ref(sla)} "
            "where date_day between ? and ? group by 1 order by 1", [period.start, period.end])
        achieved = sum(int(r["achieved"] or 0) for r in rows)
        breached = sum(int(r["breached"] or 0) for r in rows)
        if achieved + breached:
            month = reader.query(
                f"select sum(targets_breached) as b, sum(targets_achieved + targets_breached) as n from {reader.ref(sla)} "
                "where date_day between ? and ?", [period.end - timedelta(days=27), period.end])[0]
            trend = f" · 28 days {bk.percent(month['b'] / month['n'])}" if month["n"] else ""
            lines.append(f"SLA breached {bk.number(breached)} of {bk.number(achieved + breached)} targets "
                         f"({bk.percent(breached / (achieved + breached))}){trend}")
        if breached:
            parts = ", ".join(f"{METRIC_LABELS.get(r['sla_metric'], r['sla_metric'])} {int(r['breached'])}" for r in rows if r["breached"])
            attention.append(f"{breached} Zendesk SLA breach(es): {parts}")
    csat = "zendesk_csat"
    if reader.has(csat, "period", "period_start", "good", "bad", "surveys_offered"):
        row = reader.query(
            f"select sum(surveys_offered) as offered, sum(good) as good, sum(bad) as bad, sum(rating_5pt_responses) as r5, "
            f"sum(rating_5pt_average * rating_5pt_responses) as r5_total from {reader.ref(csat)} "
            "where period = 'day' and period_start between ? and ?", [period.start, period.end])[0]
        good, bad = int(row["good"] or 0), int(row["bad"] or 0)
        if good + bad:
            score = good / (good + bad)
            lines.append(f"CSAT {bk.percent(score, 0)} ({good} good, {bad} bad of {bk.number(row['offered'])} surveys)")
            if score < LOW_CSAT and good + bad >= MIN_ANSWERS:
                attention.append(f"Support CSAT was {bk.percent(score, 0)} ({bad} bad ratings)")
        if row["r5"]:
            lines.append(f"Rating (1-5) {float(row['r5_total']) / int(row['r5']):.1f} average from {bk.number(row['r5'])} responses")
    if not lines and not attention:
        return None
    return Section("Support", lines, attention)


def last_active_day(reader: TileReader) -> date | None:
    table = "zendesk_support_overview"
    if not reader.has(table, "date_day", "tickets_created"):
        return None
    found = reader.query(f"select max(date_day) as d from {reader.ref(table)} where tickets_created > 0")
    return found[0]["d"] if found else None
