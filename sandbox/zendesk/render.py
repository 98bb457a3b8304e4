"""Zendesk's JSON shapes for the world's objects, as of an instant (`at`).

Shapes follow the Support API reference (tickets, ticket metrics, ticket metric events, users, organizations, groups,
SLA policies, schedules, satisfaction ratings, the incremental ticket events export) at
https://developer.zendesk.com/api-reference/ticketing/ ; timestamps are ISO 8601 UTC with a `Z`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from .world import (
    ACCOUNT_ID,
    BRAND_ID,
    FORM_ID,
    ORDER_FIELD_ID,
    Group,
    MetricEvent,
    Organization,
    Rating,
    SlaPolicy,
    SurveyResponse,
    Ticket,
    Update,
    User,
    ZendeskWorld,
)


def iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


def epoch(t: datetime) -> int:
    return int(t.timestamp())


VIA: dict[str, dict[str, Any]] = {
    "web": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
    "email": {"channel": "email", "source": {"from": {"address": None}, "to": {"address": "support@northwind.example"}, "rel": None}},
    "api": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
    "rule": {"channel": "rule", "source": {"from": {"id": 360_000_900, "title": "Support automation"}, "to": {}, "rel": "automation"}},
    "merge": {"channel": "web", "source": {"from": {}, "to": {}, "rel": "merge"}},
}


def ticket(zw: ZendeskWorld, t: Ticket, at: datetime, base: str) -> dict[str, Any]:
    state = t.state(at)
    status = state["status"]
    score = state.get("satisfaction_score", "unoffered")
    rating: dict[str, Any] = {"score": score}
    if t.rating is not None and score in ("offered", "good", "bad"):
        rating = {"id": t.rating.id, "score": score, "comment": t.rating.comment if score in ("good", "bad") else None}
    requester = zw.users_by_id[t.requester_id]
    updated = t.updated_at(at)
    return {
        "url": f"{base}/api/v2/tickets/{t.id}.json",
        "id": t.id,
        "external_id": None,
        "via": json.loads(json.dumps(VIA[t.channel])),
        "created_at": iso(t.created_at),
        "updated_at": iso(updated),
        "generated_timestamp": epoch(updated),
        "type": t.type,
        "subject": t.subject,
        "raw_subject": t.subject,
        "description": t.description,
        "priority": state["priority"],
        "status": status,
        "recipient": "support@northwind.example",
        "requester_id": t.requester_id,
        "submitter_id": t.requester_id,
        "assignee_id": state.get("assignee_id"),
        "organization_id": requester.organization_id,
        "group_id": state.get("group_id"),
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": list(state.get("tags") or []),
        "custom_fields": [{"id": ORDER_FIELD_ID, "value": f"#{t.order.number}" if t.order else None}],
        "satisfaction_rating": rating,
        "sharing_agreement_ids": [],
        "custom_status_id": 360_000_000 + ("new", "open", "pending", "hold", "solved", "closed", "deleted").index(status),
        "fields": [{"id": ORDER_FIELD_ID, "value": f"#{t.order.number}" if t.order else None}],
        "followup_ids": [],
        "ticket_form_id": FORM_ID,
        "brand_id": BRAND_ID,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
    }


def _minutes(calendar: int | None, business: int | None) -> dict[str, int | None]:
    return {"calendar": calendar, "business": business}


def metric_set(zw: ZendeskWorld, t: Ticket, at: datetime, base: str) -> dict[str, Any]:
    """Ticket metrics as Zendesk computes them (https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_metrics/)."""
    sched = zw.schedule
    updates = t.visible_updates(at)
    public = [u for u in updates if u.comment is not None and u.comment.public]
    agent_public = [u for u in public[1:] if u.comment is not None and u.comment.by_agent]
    statuses = [(u.at, u.changes["status"][1]) for u in updates if "status" in u.changes]
    solves = [s for s, v in statuses if v == "solved"]
    reopens = sum(1 for (a, v), (b, w) in zip(statuses, statuses[1:], strict=False) if v == "solved" and w == "open")
    first_reply = agent_public[0].at if agent_public else None

    def spans(wanted: set[str]) -> tuple[int, int]:
        cal = bus = 0
        for i, (s, v) in enumerate(statuses):
            e = statuses[i + 1][0] if i + 1 < len(statuses) else at
            if v in wanted and s < e:
                cal += int((e - s).total_seconds() // 60)
                bus += sched.business_minutes(s, e)
        return cal, bus

    def since_created(end: datetime | None) -> dict[str, int | None]:
        if end is None:
            return _minutes(None, None)
        return _minutes(int((end - t.created_at).total_seconds() // 60), sched.business_minutes(t.created_at, end))

    solved_now = statuses[-1][1] in ("solved", "closed") if statuses else False
    requester_wait = spans({"new", "open", "hold"})
    agent_wait = spans({"pending"})
    on_hold = spans({"hold"})
    assigned = next((u.at for u in updates if u.changes.get("assignee_id", (None, None))[1] is not None), None)
    requester_updates = [u.at for u in updates if u.author_id == t.requester_id]
    group_stations = len({u.changes["group_id"][1] for u in updates if "group_id" in u.changes})
    assignee_stations = len({u.changes["assignee_id"][1] for u in updates if u.changes.get("assignee_id", (None, None))[1] is not None})
    return {
        "url": f"{base}/api/v2/ticket_metrics/{t.id + 900_000_000}.json",
        "id": t.id + 900_000_000,
        "ticket_id": t.id,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at(at)),
        "group_stations": group_stations,
        "assignee_stations": assignee_stations,
        "reopens": reopens,
        "replies": len(agent_public),
        "assignee_updated_at": iso(assigned),
        "requester_updated_at": iso(requester_updates[-1] if requester_updates else None),
        "status_updated_at": iso(statuses[-1][0] if statuses else None),
        "initially_assigned_at": iso(assigned),
        "assigned_at": iso(assigned),
        "solved_at": iso(solves[-1] if solves and solved_now else None),
        "latest_comment_added_at": iso(max((u.at for u in updates if u.comment is not None), default=None)),
        "reply_time_in_minutes": since_created(first_reply),
        "reply_time_in_seconds": {"calendar": int((first_reply - t.created_at).total_seconds()) if first_reply else None},
        "first_resolution_time_in_minutes": since_created(solves[0] if solves else None),
        "full_resolution_time_in_minutes": since_created(solves[-1] if solves and solved_now else None),
        "agent_wait_time_in_minutes": _minutes(*agent_wait),
        "requester_wait_time_in_minutes": _minutes(*requester_wait),
        "on_hold_time_in_minutes": _minutes(*on_hold),
        "custom_status_updated_at": iso(statuses[-1][0] if statuses else None),
    }


def metric_event(e: MetricEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"id": e.id, "ticket_id": e.ticket_id, "metric": e.metric, "instance_id": e.instance_id, "type": e.type,
                           "time": iso(e.time)}
    if e.type == "apply_sla" and e.sla is not None:
        out["sla"] = e.sla
    if e.type == "update_status" and e.status is not None:
        out["status"] = e.status
    if e.type == "breach":
        out["deleted"] = e.deleted
    return out


def user(zw: ZendeskWorld, u: User, at: datetime, base: str) -> dict[str, Any]:
    suspended = u.suspended_at is not None and u.suspended_at <= at
    phone = u.customer.phone if u.customer is not None else None
    return {
        "id": u.id, "url": f"{base}/api/v2/users/{u.id}.json", "name": u.name, "email": u.email,
        "created_at": iso(u.created_at), "updated_at": iso(u.updated_at(at)), "time_zone": "UTC", "iana_time_zone": "Etc/UTC",
        "phone": phone, "shared_phone_number": None, "photo": None, "locale_id": 1, "locale": "en-US",
        "organization_id": u.organization_id, "role": u.role, "verified": True, "external_id": str(u.customer.id) if u.customer else None,
        "tags": [], "alias": "", "active": True, "shared": False, "shared_agent": False,
        "last_login_at": iso(u.created_at) if u.role != "end-user" else None, "two_factor_auth_enabled": None,
        "signature": "" if u.role != "end-user" else None, "details": "", "notes": "", "role_type": None if u.role == "end-user" else 0,
        "custom_role_id": None, "moderator": u.role != "end-user", "ticket_restriction": "requested" if u.role == "end-user" else None,
        "only_private_comments": False, "restricted_agent": u.role == "end-user", "suspended": suspended,
        "default_group_id": u.group_id, "report_csv": u.role == "admin", "user_fields": {},
    }


def organization(o: Organization, base: str) -> dict[str, Any]:
    return {"id": o.id, "url": f"{base}/api/v2/organizations/{o.id}.json", "name": o.name, "shared_tickets": False,
            "shared_comments": False, "external_id": None, "created_at": iso(o.created_at), "updated_at": iso(o.created_at),
            "domain_names": [], "details": "", "notes": "", "group_id": None, "tags": [o.tag], "organization_fields": {}}


def group(g: Group, base: str) -> dict[str, Any]:
    return {"url": f"{base}/api/v2/groups/{g.id}.json", "id": g.id, "is_public": True, "name": g.name, "description": g.description,
            "default": g.name.startswith("Orders"), "deleted": False, "created_at": iso(g.created_at), "updated_at": iso(g.created_at)}


def sla_policy(p: SlaPolicy, base: str) -> dict[str, Any]:
    return {
        "url": f"{base}/api/v2/slas/policies/{p.id}.json", "id": p.id, "title": p.title, "description": p.description,
        "position": p.position, "filter": p.filter,
        "policy_metrics": [{"priority": m.priority, "metric": m.metric, "target": m.target, "business_hours": m.business_hours,
                            "target_in_seconds": m.target * 60} for m in p.policy_metrics],
        "metric_settings": {"next_reply_time": {"review_ticket_requests": False}},
        "created_at": iso(p.created_at), "updated_at": iso(p.updated_at),
    }


def schedule(zw: ZendeskWorld) -> dict[str, Any]:
    s = zw.schedule
    return {"id": s.id, "name": s.name, "time_zone": s.time_zone,
            "intervals": [{"start_time": a, "end_time": b} for a, b in s.intervals],
            "created_at": iso(s.created_at), "updated_at": iso(s.created_at)}


def holidays(zw: ZendeskWorld) -> list[dict[str, Any]]:
    return [{"id": h.id, "name": h.name, "start_date": h.start_date.isoformat(), "end_date": h.end_date.isoformat()}
            for h in zw.schedule.holidays]


def rating(r: Rating, at: datetime, base: str) -> dict[str, Any]:
    score = r.score_at(at)
    answered = score in ("good", "bad")
    return {
        "url": f"{base}/api/v2/satisfaction_ratings/{r.id}.json", "id": r.id, "assignee_id": r.assignee_id, "group_id": r.group_id,
        "requester_id": r.requester_id, "ticket_id": r.ticket_id, "score": score, "created_at": iso(r.offered_at),
        "updated_at": iso(r.updated_at(at)), "comment": r.comment if answered else None,
        "reason": r.reason if answered and score == "bad" else None, "reason_id": 360_000_700 if answered and r.reason else None,
        "reason_code": 5 if answered and r.reason else 0,
    }


SURVEY_ID = "01HZN5W2Y1K8Q7Q0C5J3N6T9VB"
RATING_QUESTION = {"id": "01HZN5W2Y1K8Q7Q0C5J3N6T9VC", "type": "rating_scale", "headline": {"text": "How would you rate your experience?"}}


def survey_response(s: SurveyResponse) -> dict[str, Any]:
    answers: list[dict[str, Any]] = [{
        "type": "rating_scale", "question": RATING_QUESTION, "rating": s.rating,
        "rating_category": "good" if s.rating >= 4 else ("bad" if s.rating <= 2 else "neutral"),
        "created_at": iso(s.responded_at), "updated_at": iso(s.responded_at),
    }]
    if s.comment:
        answers.append({"type": "open_ended", "question": {"id": "01HZN5W2Y1K8Q7Q0C5J3N6T9VD", "type": "open_ended",
                        "headline": {"text": "Tell us more"}}, "value": s.comment,
                        "created_at": iso(s.responded_at), "updated_at": iso(s.responded_at)})
    return {
        "id": s.id, "survey_id": SURVEY_ID, "survey_version": 1, "subject_zrns": [f"zen:ticket:{s.ticket_id}"],
        "responder_id": s.responder_id, "answers": answers, "created_at": iso(s.responded_at), "updated_at": iso(s.responded_at),
        "expires_at": iso(s.offered_at + timedelta(days=28)),
    }


_VIA_NAMES = {"web": "Web form", "email": "Mail", "api": "Web service", "rule": "Rule", "merge": "Web form"}


def ticket_event(t: Ticket, u: Update, comments: bool) -> dict[str, Any]:
    """One audit as the incremental ticket events export lists it: child events carry each changed field (with its
    previous value) and the comment (its body only with the `comment_events` sideload)."""
    via = _VIA_NAMES[u.via]
    first = u is t.updates[0]
    children: list[dict[str, Any]] = []
    seq = u.id
    if u.comment is not None:
        seq += 1
        if comments:
            children.append({"id": seq, "via": via, "via_reference_id": None, "type": "Comment", "author_id": u.comment.author_id,
                             "body": u.comment.body, "html_body": f"<div class=\"zd-comment\"><p>{u.comment.body}</p></div>",
                             "public": u.comment.public, "attachments": [], "audit_id": u.id, "created_at": iso(u.at),
                             "event_type": "Comment"})
        else:
            children.append({"id": seq, "via": via, "via_reference_id": None, "comment_present": True,
                             "comment_public": u.comment.public, "event_type": "Comment"})
    for name, (old, new) in u.changes.items():
        seq += 1
        child: dict[str, Any] = {"id": seq, "via": via, "via_reference_id": None, name: new, "event_type": "Create" if first else "Change"}
        if not first:
            child["previous_value"] = old
        children.append(child)
    return {
        "id": u.id, "ticket_id": t.id, "timestamp": epoch(u.at), "created_at": iso(u.at), "updater_id": u.author_id,
        "via": via, "system": {"client": "Mozilla/5.0", "ip_address": None, "location": None, "latitude": None, "longitude": None},
        "metadata": {"system": {}, "custom": {}}, "event_type": "Audit", "child_events": children,
    }


def webhook_ticket_detail(zw: ZendeskWorld, t: Ticket, at: datetime) -> dict[str, Any]:
    state = t.state(at)
    requester = zw.users_by_id[t.requester_id]
    return {
        "actor_id": str(zw.admin.id), "assignee_id": str(state.get("assignee_id") or ""), "brand_id": str(BRAND_ID),
        "created_at": iso(t.created_at), "custom_status": str(360_000_001), "description": t.description,
        "external_id": None, "form_id": str(FORM_ID), "group_id": str(state.get("group_id") or ""), "id": str(t.id),
        "is_public": True, "organization_id": str(requester.organization_id or ""), "priority": str(state["priority"]).upper(),
        "requester_id": str(t.requester_id), "status": str(state["status"]).upper(), "subject": t.subject,
        "submitter_id": str(t.requester_id), "tags": list(state.get("tags") or []), "type": t.type.upper(),
        "updated_at": iso(t.updated_at(at)), "via": {"channel": t.channel},
    }


def account_id() -> int:
    return ACCOUNT_ID
