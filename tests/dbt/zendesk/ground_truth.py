"""The four Zendesk tiles computed straight from the sandbox world, independently of the pipeline and of dbt.

It reads the world's own records (each ticket's audits, the SLA state the simulator keeps, the ratings) and
recomputes every measure with its own code: statuses by replaying the audits, business minutes by counting the
schedule's open minutes one by one (the simulator uses interval arithmetic), percentiles by linear interpolation.

Two instants matter, as in Zendesk: the incremental exports exclude the last minute (`export_at = now - 60 s`:
tickets, metric events, comments), the lists (ratings, survey responses) and Shopify show `now`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sandbox.world.core import World
from sandbox.zendesk.world import Ticket, ZendeskWorld

UNSOLVED = {"new", "open", "pending", "hold"}


def export_at(world: World) -> datetime:
    return world.now - timedelta(minutes=1)


def as_of_date(world: World) -> date:
    return export_at(world).date()


def day_end(d: date) -> datetime:
    from datetime import UTC

    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1)


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def business_minutes_brute(zw: ZendeskWorld, start: datetime, end: datetime) -> int:
    """Open minutes in [start, end), one minute at a time, from the schedule's raw intervals and holidays."""
    sched = zw.schedule
    holidays = {h.start_date + timedelta(days=i) for h in sched.holidays for i in range((h.end_date - h.start_date).days + 1)}
    count = 0
    t = start
    while t < end:
        if t.date() not in holidays:
            week_minute = ((t.weekday() + 1) % 7) * 1440 + t.hour * 60 + t.minute
            if any(a <= week_minute < b for a, b in sched.intervals):
                count += 1
        t += timedelta(minutes=1)
    return count


def _status_changes(t: Ticket, until: datetime) -> list[tuple[datetime, Any, Any]]:
    return [(u.at, *u.changes["status"]) for u in t.updates if u.at <= until and "status" in u.changes]


def _status_before(t: Ticket, instant: datetime, until: datetime) -> str | None:
    status = None
    for at, _old, new in _status_changes(t, until):
        if at < instant:
            status = new
    return status


def _agent_replies(t: Ticket, until: datetime) -> list[datetime]:
    public = [u for u in t.updates if u.at <= until and u.comment is not None and u.comment.public]
    return [u.at for u in public[1:] if u.comment is not None and u.comment.by_agent]


def counted_tickets(world: World) -> list[Ticket]:
    zw: ZendeskWorld = world.extension("zendesk")
    cut = export_at(world)
    return [t for t in zw.tickets if t.created_at <= cut and not t.excluded(cut)]


def _last_solve(t: Ticket, until: datetime) -> datetime | None:
    changes = _status_changes(t, until)
    if not changes or changes[-1][2] not in ("solved", "closed"):
        return None
    solves = [at for at, _o, new in changes if new == "solved"]
    return solves[-1] if solves else None


def _reopens(t: Ticket, until: datetime) -> int:
    return sum(1 for _at, old, new in _status_changes(t, until) if old == "solved" and new == "open")


def overview(world: World) -> dict[date, dict[str, Any]]:
    zw: ZendeskWorld = world.extension("zendesk")
    cut, as_of = export_at(world), as_of_date(world)
    tickets = counted_tickets(world)
    first = min(t.created_at.date() for t in tickets)
    days = [first + timedelta(days=i) for i in range((as_of - first).days + 1)]
    out: dict[date, dict[str, Any]] = {d: {"tickets_created": 0, "tickets_from_customers": 0, "tickets_solved": 0, "tickets_reopened": 0,
                                           "open_backlog": 0, "_frc": [], "_frb": [], "_fuc": [], "_fub": [], "_one": []} for d in days}
    for t in tickets:
        d = t.created_at.date()
        requester = zw.users_by_id[t.requester_id]
        if d in out:
            out[d]["tickets_created"] += 1
            out[d]["tickets_from_customers"] += requester.customer is not None and requester.customer.created_at <= world.now
            replies = _agent_replies(t, cut)
            if replies:
                out[d]["_frc"].append((replies[0] - t.created_at).total_seconds() / 60)
                out[d]["_frb"].append(business_minutes_brute(zw, t.created_at, replies[0]))
        for at, old, new in _status_changes(t, cut):
            if at.date() in out:
                out[at.date()]["tickets_solved"] += new == "solved" and old != "solved"
                out[at.date()]["tickets_reopened"] += old == "solved" and new == "open"
        solved = _last_solve(t, cut)
        if solved is not None and solved.date() in out:
            row = out[solved.date()]
            row["_fuc"].append((solved - t.created_at).total_seconds() / 60)
            row["_fub"].append(business_minutes_brute(zw, t.created_at, solved))
            row["_one"].append(1.0 if len(_agent_replies(t, cut)) == 1 else 0.0)
        for d in days:
            if t.created_at < day_end(d) and _status_before(t, day_end(d), cut) in UNSOLVED:
                out[d]["open_backlog"] += 1
    orders: dict[date, int] = defaultdict(int)
    for o in world.visible_orders():
        if o.cancelled_at is None or o.cancelled_at > world.now:
            orders[o.created_at.date()] += 1
    for d, row in out.items():
        row["first_reply_median_calendar_minutes"] = quantile(row["_frc"], 0.5)
        row["first_reply_p90_calendar_minutes"] = quantile(row["_frc"], 0.9)
        row["first_reply_median_business_minutes"] = quantile(row["_frb"], 0.5)
        row["first_reply_p90_business_minutes"] = quantile(row["_frb"], 0.9)
        row["full_resolution_median_calendar_minutes"] = quantile(row["_fuc"], 0.5)
        row["full_resolution_p90_calendar_minutes"] = quantile(row["_fuc"], 0.9)
        row["full_resolution_median_business_minutes"] = quantile(row["_fub"], 0.5)
        row["full_resolution_p90_business_minutes"] = quantile(row["_fub"], 0.9)
        row["one_touch_resolution_rate"] = sum(row["_one"]) / len(row["_one"]) if row["_one"] else None
        row["shopify_orders"] = orders.get(d, 0)
        row["tickets_per_100_orders"] = 100 * row["tickets_created"] / orders[d] if orders.get(d) else None
        for k in ("_frc", "_frb", "_fuc", "_fub", "_one"):
            del row[k]
    return out


def sla_targets(world: World) -> list[Any]:
    """The simulator's SLA instances on counted tickets, applied by the export cutoff."""
    cut = export_at(world)
    return [i for t in counted_tickets(world) for i in t.sla_instances if i.applied_at <= cut]


def sla_breaches(world: World) -> set[tuple[int, str, int, datetime]]:
    cut = export_at(world)
    return {(i.ticket_id, i.event_metric, i.instance_id, i.breach_at) for i in sla_targets(world)
            if i.breach_at is not None and i.breach_at <= cut}


def sla_performance(world: World) -> dict[tuple[date, int, str], dict[str, Any]]:
    cut, as_of = export_at(world), as_of_date(world)
    targets = [i for i in sla_targets(world) if i.applied_at.date() <= as_of]
    combos = {(i.policy_id, i.metric) for i in targets}
    first = min(i.applied_at.date() for i in targets)
    days = [first + timedelta(days=n) for n in range((as_of - first).days + 1)]
    rows = {(d, p, m): {"targets_achieved": 0, "targets_breached": 0, "targets_active": 0} for d in days for p, m in combos}
    for i in targets:
        state = i.state(cut)
        if state == "breached":
            assert i.breach_at is not None
            rows[(i.breach_at.date(), i.policy_id, i.metric)]["targets_breached"] += 1
        elif state == "achieved":
            fulfilled = i.final_fulfilled_at(cut)
            assert fulfilled is not None
            rows[(fulfilled.date(), i.policy_id, i.metric)]["targets_achieved"] += 1
        for d in days:
            eod = day_end(d)
            if i.applied_at >= eod or (i.breach_at is not None and i.breach_at < eod and i.breach_at <= cut):
                continue
            marks = [kind for at, kind in i.fulfillments if at < eod and at <= cut]
            if not marks or marks[-1] != "fulfill":
                rows[(d, i.policy_id, i.metric)]["targets_active"] += 1
    for p, m in combos:
        for n, d in enumerate(days):
            row = rows[(d, p, m)]
            done = row["targets_achieved"] + row["targets_breached"]
            row["breach_rate"] = row["targets_breached"] / done if done else None
            for window, name in ((7, "breach_rate_7d"), (28, "breach_rate_28d")):
                span = [rows[(x, p, m)] for x in days[max(0, n - window + 1): n + 1]]
                breached = sum(r["targets_breached"] for r in span)
                resolved = sum(r["targets_achieved"] + r["targets_breached"] for r in span)
                row[name] = breached / resolved if resolved else None
    return rows


def _week(d: date) -> date:
    return d - timedelta(days=d.weekday())


def agent_metrics(world: World) -> dict[tuple[date, int], dict[str, Any]]:
    zw: ZendeskWorld = world.extension("zendesk")
    cut, as_of = export_at(world), as_of_date(world)
    tickets = {t.id: t for t in counted_tickets(world)}
    agents = {u.id for u in zw.agents}
    rows: dict[tuple[date, int], dict[str, Any]] = defaultdict(lambda: {
        "tickets_solved": 0, "public_replies": 0, "csat_answered": 0, "csat_good": 0, "csat_bad": 0, "rating_5pt_responses": 0,
        "_frc": [], "_frb": [], "_fuc": [], "_fub": [], "_one": [], "_reo": [], "_r5": []})
    for t in tickets.values():
        assignee = t.state(cut).get("assignee_id")
        solved = _last_solve(t, cut)
        if solved is not None and solved.date() <= as_of and assignee is not None:
            row = rows[(_week(solved.date()), assignee)]
            row["tickets_solved"] += 1
            replies = _agent_replies(t, cut)
            if replies:
                row["_frc"].append((replies[0] - t.created_at).total_seconds() / 60)
                row["_frb"].append(business_minutes_brute(zw, t.created_at, replies[0]))
            row["_fuc"].append((solved - t.created_at).total_seconds() / 60)
            row["_fub"].append(business_minutes_brute(zw, t.created_at, solved))
            row["_one"].append(1.0 if len(replies) == 1 else 0.0)
            row["_reo"].append(1.0 if _reopens(t, cut) > 0 else 0.0)
        for u in t.updates:
            c = u.comment
            if c is not None and c.public and c.author_id in agents and u.at <= cut and u.at.date() <= as_of:
                rows[(_week(u.at.date()), c.author_id)]["public_replies"] += 1
    for r in zw.ratings:
        if r.offered_at > world.now or r.ticket_id not in tickets or r.assignee_id is None or r.offered_at.date() > as_of:
            continue
        row = rows[(_week(r.offered_at.date()), r.assignee_id)]
        score = r.score_at(world.now)
        row["csat_answered"] += score in ("good", "bad")
        row["csat_good"] += score == "good"
        row["csat_bad"] += score == "bad"
    for s in zw.survey_responses:
        if s.responded_at > world.now or s.ticket_id not in tickets or s.responded_at.date() > as_of:
            continue
        assignee = tickets[s.ticket_id].state(cut).get("assignee_id")
        if assignee is None:
            continue
        row = rows[(_week(s.responded_at.date()), assignee)]
        row["rating_5pt_responses"] += 1
        row["_r5"].append(s.rating)
    out = {}
    for key, row in rows.items():
        row["first_reply_median_calendar_minutes"] = quantile(row["_frc"], 0.5)
        row["first_reply_median_business_minutes"] = quantile(row["_frb"], 0.5)
        row["full_resolution_median_calendar_minutes"] = quantile(row["_fuc"], 0.5)
        row["full_resolution_median_business_minutes"] = quantile(row["_fub"], 0.5)
        row["one_touch_rate"] = sum(row["_one"]) / len(row["_one"]) if row["_one"] else None
        row["reopen_rate"] = sum(row["_reo"]) / len(row["_reo"]) if row["_reo"] else None
        answered = row["csat_good"] + row["csat_bad"]
        row["csat_percent"] = row["csat_good"] / answered if answered else None
        row["rating_5pt_average"] = sum(row["_r5"]) / len(row["_r5"]) if row["_r5"] else None
        for k in [k for k in row if k.startswith("_")]:
            del row[k]
        out[key] = row
    return out


def csat(world: World) -> dict[tuple[str, date], dict[str, Any]]:
    zw: ZendeskWorld = world.extension("zendesk")
    as_of = as_of_date(world)
    tickets = {t.id for t in counted_tickets(world)}
    ratings = [r for r in zw.ratings if r.offered_at <= world.now and r.ticket_id in tickets and r.offered_at.date() <= as_of]
    surveys = [s for s in zw.survey_responses if s.responded_at <= world.now and s.ticket_id in tickets and s.responded_at.date() <= as_of]
    first = min([r.offered_at.date() for r in ratings] + [s.responded_at.date() for s in surveys])
    keys: list[tuple[str, date]] = [("day", first + timedelta(days=n)) for n in range((as_of - first).days + 1)]
    week = _week(first)
    while week <= _week(as_of):
        keys.append(("week", week))
        week += timedelta(days=7)
    rows: dict[tuple[str, date], dict[str, Any]] = {k: {"surveys_offered": 0, "surveys_answered": 0, "good": 0, "bad": 0, "_r5": []} for k in keys}
    for r in ratings:
        score = r.score_at(world.now)
        for key in (("day", r.offered_at.date()), ("week", _week(r.offered_at.date()))):
            row = rows[key]
            row["surveys_offered"] += 1
            row["surveys_answered"] += score in ("good", "bad")
            row["good"] += score == "good"
            row["bad"] += score == "bad"
    for s in surveys:
        for key in (("day", s.responded_at.date()), ("week", _week(s.responded_at.date()))):
            rows[key]["_r5"].append(s.rating)
    for row in rows.values():
        answered = row["good"] + row["bad"]
        row["csat_percent"] = row["good"] / answered if answered else None
        row["response_rate"] = row["surveys_answered"] / row["surveys_offered"] if row["surveys_offered"] else None
        r5 = row.pop("_r5")
        row["rating_5pt_responses"] = len(r5)
        row["rating_5pt_average"] = sum(r5) / len(r5) if r5 else None
        row["rating_5pt_share_4_5"] = sum(1 for x in r5 if x >= 4) / len(r5) if r5 else None
    return rows
