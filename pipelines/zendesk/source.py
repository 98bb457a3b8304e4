"""Zendesk Support source: tickets with their metrics, users, organizations, ticket metric events (SLA apply, breach,
fulfil, pause), public and private comments, satisfaction (legacy good/bad and the 1-5 survey), SLA policies,
groups, schedules and holidays. All merged on id into `raw_zendesk`.

Incremental state (each export's cursor or start time) is kept in dlt's resource state, which dlt commits in the same
load as the rows: a crash anywhere before that commit leaves the previous cursor, so the next run re-reads the same
pages and `merge` absorbs the overlap; nothing is lost and nothing doubles.

- tickets (+ `ticket_metric_sets`, side-loaded with `include=metric_sets`) and users: the cursor-based incremental
  exports, `start_time` on the first run then the saved `cursor`, stopping only at `end_of_stream`.
- organizations, ticket metric events and ticket events: the time-based exports (`start_time` -> `end_time`); items
  at the boundary second repeat on the next page (see below). Ticket events are read with `include=comment_events` and kept as
  `ticket_comments` (who wrote, public or not, when): bodies are not stored.
- satisfaction ratings and survey responses (the 1-5 CSAT): cursor pagination filtered by creation with a look-back
  (see settings); SLA policies (+ `sla_policy_metrics`), groups, schedules and holidays in full (replaced when
  they change: a removed policy or group disappears).

A run loads only what changed (a no-change run loads no rows): the cursor exports return only changes; the time-based
exports' boundary second, which Zendesk serves again, is dropped when its items are the ones the last run loaded
(their fingerprints are kept in the resource state); ratings and survey responses, whose look-back is re-read, are
filtered by their `updated_at` (`dlt.sources.incremental`, which also drops the rows at the last value it loaded); the lists read
in full are replaced only when their fingerprint differs from the last one loaded.

Deleted tickets (`status = deleted`, spam marked as spam included) and merged tickets (closed with the tag
`closed_by_merge`) are loaded like any other: the dbt models exclude them from every count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import dlt
import orjson
from dlt.sources import DltResource

from pipelines.common.config import ProviderConfig

from . import settings
from .helpers import (
    CursorExportPaginator,
    ListCursorPaginator,
    SinglePage,
    TimeExportPaginator,
    auth_for,
    body_of,
    rest_client,
)

API = settings.API
TICKET_COLUMNS: dict[str, Any] = {
    **{name: {"data_type": "json"} for name in ("tags", "custom_fields", "fields", "satisfaction_rating", "via", "collaborator_ids",
                                                "follower_ids", "email_cc_ids", "sharing_agreement_ids", "followup_ids")},
    **{name: {"data_type": "bigint"} for name in ("assignee_id", "organization_id", "group_id", "problem_id", "forum_topic_id")},
    "external_id": {"data_type": "text"}, "due_at": {"data_type": "timestamp"},
}
METRIC_SET_COLUMNS: dict[str, Any] = {name: {"data_type": "json"} for name in (
    "reply_time_in_minutes", "reply_time_in_seconds", "first_resolution_time_in_minutes", "full_resolution_time_in_minutes",
    "agent_wait_time_in_minutes", "requester_wait_time_in_minutes", "on_hold_time_in_minutes")}
USER_FIELDS = ("id", "name", "email", "role", "organization_id", "default_group_id", "active", "suspended", "verified",
               "time_zone", "locale", "external_id", "created_at", "updated_at", "last_login_at")
"""Users keep what the models need: no phone numbers, photos, notes or signatures."""


def _user_row(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user.get(k) for k in USER_FIELDS}


def _rating_row(r: dict[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in r.items() if k != "comment"}  # the customer's free text is not needed for CSAT %
    row["has_comment"] = bool(r.get("comment"))
    return row


def _survey_row(s: dict[str, Any]) -> dict[str, Any]:
    ticket_id = next((int(z.rsplit(":", 1)[1]) for z in s.get("subject_zrns") or [] if str(z).startswith("zen:ticket:")), None)
    rating = next((a for a in s.get("answers") or [] if a.get("type") == "rating_scale"), None)
    return {"id": s["id"], "ticket_id": ticket_id, "responder_id": s.get("responder_id"), "survey_id": s.get("survey_id"),
            "survey_version": s.get("survey_version"), "rating": rating.get("rating") if rating else None,
            "created_at": s.get("created_at"), "updated_at": s.get("updated_at")}


def fingerprint(value: Any) -> str:
    """A short digest of JSON content, to know it again in a later run without keeping it."""
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


def unchanged(state: dict[str, Any], content: Any) -> bool:
    """Whether `content` is what the last run loaded (by fingerprint); if not, remember it as loaded by this run.
    The state is committed with the load, so a failed load leaves the old fingerprint and the next run loads again."""
    digest = fingerprint(content)
    if state.get("fingerprint") == digest:
        return True
    state["fingerprint"] = digest
    return False


def _comment_rows(event: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for child in event.get("child_events") or []:
        if child.get("event_type") == "Comment" and "author_id" in child:
            rows.append({"id": child["id"], "audit_id": event["id"], "ticket_id": event["ticket_id"], "author_id": child["author_id"],
                         "public": bool(child.get("public")), "created_at": child.get("created_at") or event.get("created_at")})
    return rows


@dlt.source(name="zendesk", max_table_nesting=0)
def source(config: ProviderConfig) -> list[DltResource]:
    """The Zendesk source for a resolved config (API token or OAuth, see helpers.auth_for)."""
    auth = auth_for(config)  # one auth object for every thread: OAuth refreshes are serialised inside it
    initial = settings.initial_start_time()

    def rest() -> Any:
        return rest_client(config, auth)

    def cursor_export(path: str, key: str, params: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(page body, resource state) per page; the caller saves `state["cursor"]` once it has yielded the page."""
        state = dlt.current.resource_state()
        paginator = CursorExportPaginator(initial, state.get("cursor"))
        for page in rest().paginate(path, params={**params, "per_page": settings.EXPORT_PER_PAGE}, paginator=paginator):
            body = body_of(page)
            if key not in body:
                raise ValueError(f"zendesk: {path} answered without {key!r}")
            yield body, state
            state["cursor"] = paginator.cursor

    def time_export(path: str, key: str, params: dict[str, Any], stamp: Callable[[dict[str, Any]], int]) -> Iterator[list[dict[str, Any]]]:
        """The items of each page, without those at the page's `start_time` second that were loaded already: Zendesk
        serves the items stamped at `end_time` again on the next page and in the next run. `stamp` is the item's
        export time (unix seconds). `state["at_start"]`: the fingerprints of the items at `start_time` loaded so far."""
        state = dlt.current.resource_state()
        start = int(state.get("start_time", initial))
        loaded = set(state.get("at_start", ()))
        paginator = TimeExportPaginator(start)
        for page in rest().paginate(path, params=params, paginator=paginator):
            body = body_of(page)
            if key not in body:
                raise ValueError(f"zendesk: {path} answered without {key!r}")
            items = body[key]
            yield [i for i in items if not (stamp(i) == start and fingerprint(i) in loaded)]
            end = paginator.end_time
            at_end = {fingerprint(i) for i in items if stamp(i) == end}
            loaded = loaded | at_end if end == start else at_end
            start = end
            state["start_time"], state["at_start"] = end, sorted(loaded)

    # Column hints go on each table (variants), not on the resource: resource-level hints would be copied into the
    # side-loaded `ticket_metric_sets` table as empty columns.
    ticket_hints = dlt.mark.make_hints(table_name="tickets", columns=TICKET_COLUMNS)
    metric_set_hints = dlt.mark.make_hints(table_name="ticket_metric_sets", primary_key="id", write_disposition="merge",
                                           columns=METRIC_SET_COLUMNS)

    @dlt.resource(name="tickets", primary_key="id", write_disposition="merge", parallelized=True)
    def tickets() -> Iterator[Any]:
        for body, _state in cursor_export(f"{API}/incremental/tickets/cursor.json", "tickets", {"include": "metric_sets"}):
            # The description is the customer's first message: free text the models never need.
            rows = [{k: v for k, v in t.items() if k != "description"} for t in body["tickets"]]
            yield dlt.mark.with_hints(rows, ticket_hints, create_table_variant=True)
            if body.get("metric_sets"):
                yield dlt.mark.with_hints(body["metric_sets"], metric_set_hints, create_table_variant=True)

    @dlt.resource(name="users", primary_key="id", write_disposition="merge", parallelized=True,
                  columns={"external_id": {"data_type": "text"}, "organization_id": {"data_type": "bigint"},
                           "default_group_id": {"data_type": "bigint"}, "last_login_at": {"data_type": "timestamp"}})
    def users() -> Iterator[Any]:
        for body, _state in cursor_export(f"{API}/incremental/users/cursor.json", "users", {}):
            yield [_user_row(u) for u in body["users"]]

    @dlt.resource(name="organizations", primary_key="id", write_disposition="merge", parallelized=True,
                  columns={"external_id": {"data_type": "text"}, "group_id": {"data_type": "bigint"}, "tags": {"data_type": "json"},
                           "domain_names": {"data_type": "json"}, "organization_fields": {"data_type": "json"}})
    def organizations() -> Iterator[Any]:
        yield from time_export(f"{API}/incremental/organizations.json", "organizations", {}, lambda o: _epoch(o["updated_at"]))

    @dlt.resource(name="ticket_metric_events", primary_key="id", write_disposition="merge", parallelized=True,
                  columns={"sla": {"data_type": "json"}, "status": {"data_type": "json"}, "deleted": {"data_type": "bool"}})
    def ticket_metric_events() -> Iterator[Any]:
        yield from time_export(f"{API}/incremental/ticket_metric_events.json", "ticket_metric_events", {}, lambda e: _epoch(e["time"]))

    @dlt.resource(name="ticket_comments", primary_key="id", write_disposition="merge", parallelized=True)
    def ticket_comments() -> Iterator[Any]:
        for events in time_export(f"{API}/incremental/ticket_events.json", "ticket_events", {"include": "comment_events"},
                                  lambda e: int(e["timestamp"])):
            yield [row for event in events for row in _comment_rows(event)]

    @dlt.resource(name="satisfaction_ratings", primary_key="id", write_disposition="merge", parallelized=True,
                  columns={"reason": {"data_type": "text"}, "reason_id": {"data_type": "bigint"}, "assignee_id": {"data_type": "bigint"},
                           "group_id": {"data_type": "bigint"}})
    def satisfaction_ratings(
        updated: Any = dlt.sources.incremental("updated_at", initial_value="1970-01-01T00:00:00Z"),
    ) -> Iterator[Any]:
        # The look-back re-reads 28 days of ratings every run; `updated` keeps only those answered or changed since.
        state = dlt.current.resource_state()
        since = max(initial, int(state.get("created_since", initial)) - settings.RATINGS_LOOKBACK_SECONDS)
        newest = int(state.get("created_since", initial))
        for page in rest().paginate(f"{API}/satisfaction_ratings.json", params={"start_time": since}, paginator=ListCursorPaginator()):
            ratings = body_of(page)["satisfaction_ratings"]
            yield [_rating_row(r) for r in ratings]
            for r in ratings:
                newest = max(newest, _epoch(r["created_at"]))
        state["created_since"] = newest

    @dlt.resource(name="survey_responses", primary_key="id", write_disposition="merge", parallelized=True)
    def survey_responses(
        updated: Any = dlt.sources.incremental("updated_at", initial_value="1970-01-01T00:00:00Z"),
    ) -> Iterator[Any]:
        # Those created in the look-back before the newest loaded; `updated` keeps only the new and changed ones.
        state = dlt.current.resource_state()
        newest = state.get("created_since")
        params = {} if newest is None else {"filter[created_at_start]": 1000 * (int(newest) - settings.SURVEYS_LOOKBACK_SECONDS)}
        for page in rest().paginate(f"{API}/guide/survey_responses.json", params=params, paginator=ListCursorPaginator()):
            responses = body_of(page)["survey_responses"]
            yield [_survey_row(s) for s in responses]
            for s in responses:
                newest = max(int(newest or 0), _epoch(s["created_at"]))
        if newest is not None:
            state["created_since"] = newest

    def replaced(tables: dict[str, list[dict[str, Any]]]) -> Iterator[Any]:
        """Lists read in full: each table replaced as a whole when the content differs from the last run's, nothing
        when it does not. The resources are declared `merge`, not `replace`: dlt truncates a `replace` resource's
        tables when it yields nothing."""
        if unchanged(dlt.current.resource_state(), tables):
            return
        for table, rows in tables.items():
            yield dlt.mark.with_hints(rows, dlt.mark.make_hints(table_name=table, write_disposition="replace"), create_table_variant=True)

    @dlt.resource(name="sla_policies", primary_key="id", write_disposition="merge", parallelized=True,
                  columns={"filter": {"data_type": "json"}, "policy_metrics": {"data_type": "json"}, "metric_settings": {"data_type": "json"}})
    def sla_policies() -> Iterator[Any]:
        policies = [p for page in rest().paginate(f"{API}/slas/policies.json", paginator=SinglePage())
                    for p in body_of(page)["sla_policies"]]
        metrics = [{"policy_id": p["id"], "priority": m["priority"], "metric": m["metric"], "target": m["target"],
                    "business_hours": m["business_hours"], "id": f"{p['id']}:{m['priority']}:{m['metric']}"}
                   for p in policies for m in p.get("policy_metrics") or []]
        yield from replaced({"sla_policies": policies, "sla_policy_metrics": metrics})

    @dlt.resource(name="groups", primary_key="id", write_disposition="merge", parallelized=True)
    def groups() -> Iterator[Any]:
        found = [g for page in rest().paginate(f"{API}/groups.json", paginator=ListCursorPaginator()) for g in body_of(page)["groups"]]
        yield from replaced({"groups": found})

    @dlt.resource(name="schedules", primary_key="id", write_disposition="merge", parallelized=True,
                  columns={"intervals": {"data_type": "json"}})
    def schedules() -> Iterator[Any]:
        client = rest()
        found = [s for page in client.paginate(f"{API}/business_hours/schedules.json", paginator=SinglePage())
                 for s in body_of(page)["schedules"]]
        holidays = [{**h, "schedule_id": schedule["id"]} for schedule in found
                    for hpage in client.paginate(f"{API}/business_hours/schedules/{schedule['id']}/holidays.json", paginator=SinglePage())
                    for h in body_of(hpage)["holidays"]]
        yield from replaced({"schedules": found, "schedule_holidays": holidays})

    return [tickets, users, organizations, ticket_metric_events, ticket_comments, satisfaction_ratings, survey_responses,
            sla_policies, groups, schedules]


def _epoch(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
