"""The simulator's indexed pages (sandbox/zendesk/index.py) give exactly what a straightforward filter of the world
gives: every incremental export page by page (cursor and time based, resumed from any cursor or `start_time`), the
sample export, the cursor variant of the metric events export and the rating and survey lists, before and after the
world moves."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sandbox.common.state import SandboxState
from sandbox.world import World
from sandbox.zendesk import SANDBOX_CREDENTIALS as C
from sandbox.zendesk import create_app
from sandbox.zendesk.index import ByTime
from sandbox.zendesk.world import ZendeskWorld

TOKEN_AUTH = {"Authorization": "Basic " + base64.b64encode(f"{C['email']}/token:{C['api_token']}".encode()).decode()}
Row = tuple[int, int]  # (unix second, id): the export order


@pytest.fixture
def zd() -> Iterator[tuple[TestClient, SandboxState]]:
    state = SandboxState(World(scale="small"), latency="zero", options={"zendesk_rate_scale": 1000})
    yield TestClient(create_app(state)), state


def get(c: TestClient, path: str, **params: Any) -> Any:
    response = c.get(path, params=params, headers=TOKEN_AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def sec(t: datetime) -> int:
    return int(t.timestamp())


def cutoff(state: SandboxState) -> datetime:
    return state.world.now - timedelta(minutes=1)


# The straightforward answers: everything the world shows as of the cutoff, in (second, id) order.
def tickets(zw: ZendeskWorld, at: datetime, exclude_deleted: bool = False) -> list[Row]:
    return sorted((sec(max(u.at for u in t.updates if u.at <= at)), t.id) for t in zw.tickets if t.created_at <= at and not (exclude_deleted and t.status_at(at) == "deleted"))


def users(zw: ZendeskWorld, at: datetime) -> list[Row]:
    return sorted((sec(max([u.created_at] + ([u.suspended_at] if u.suspended_at and u.suspended_at <= at else []))), u.id)
                  for u in zw.users if u.created_at <= at)


def organizations(zw: ZendeskWorld, at: datetime) -> list[Row]:
    return sorted((sec(o.created_at), o.id) for o in zw.organizations if o.created_at <= at)


def metric_events(zw: ZendeskWorld, at: datetime) -> list[Row]:
    return sorted((sec(e.time), e.id) for t in zw.tickets for e in t.metric_events if e.time <= at)


def ticket_events(zw: ZendeskWorld, at: datetime) -> list[Row]:
    return sorted((sec(u.at), u.id) for t in zw.tickets for u in t.updates if u.at <= at)


def walk_cursor_export(c: TestClient, path: str, key: str, expected: list[Row], start: int, **params: Any) -> None:
    """Every page from `start_time`, each equal to the next slice of `expected` after the page's cursor."""
    body = get(c, path, start_time=start, per_page=53, **params)
    pos: Row = (start, -1)
    pages = 0
    while True:
        want = [r for r in expected if r > pos]
        got = [(x["generated_timestamp"] if "generated_timestamp" in x else sec(datetime.fromisoformat(x["updated_at"])), x["id"])
               for x in body[key]]
        assert got == want[:53], f"page {pages} of {path}"
        assert body["end_of_stream"] == (len(want) <= 53)
        pages += 1
        if body["end_of_stream"]:
            break
        pos = got[-1]
        body = get(c, path, cursor=body["after_cursor"], per_page=53, **params)
    assert pages == max(1, -(-len([r for r in expected if r[0] >= start]) // 53))


def walk_time_export(c: TestClient, path: str, key: str, expected: list[Row], start: int, stamp: Callable[[dict[str, Any]], int],
                     **params: Any) -> None:
    """Every page from `start_time`, each equal to the first `per_page` of `expected` at or after its start_time."""
    per_page = 211
    while True:
        body = get(c, path, start_time=start, per_page=per_page, **params)
        want = [r for r in expected if r[0] >= start][:per_page]
        assert [(stamp(x), x["id"]) for x in body[key]] == want, f"{path} from {start}"
        assert body["count"] == len(want)
        assert body["end_of_stream"] == (len([r for r in expected if r[0] >= start]) <= per_page)
        if body["end_of_stream"] or body["end_time"] == start:
            break  # the end, or a second with more than a page of records: the same page again
        start = body["end_time"]


def check_every_export(c: TestClient, state: SandboxState) -> None:
    zw: ZendeskWorld = state.world.extension("zendesk")
    at = cutoff(state)
    middle = sec(zw.tickets[len(zw.tickets) // 2].created_at)
    for start in (0, middle):
        walk_cursor_export(c, "/api/v2/incremental/tickets/cursor.json", "tickets", tickets(zw, at), start)
        walk_cursor_export(c, "/api/v2/incremental/tickets/cursor.json", "tickets", tickets(zw, at, exclude_deleted=True), start,
                           exclude_deleted="true")
        walk_cursor_export(c, "/api/v2/incremental/users/cursor.json", "users", users(zw, at), start)
        walk_time_export(c, "/api/v2/incremental/organizations.json", "organizations", organizations(zw, at), start,
                         lambda o: sec(datetime.fromisoformat(o["created_at"])))
        walk_time_export(c, "/api/v2/incremental/ticket_metric_events.json", "ticket_metric_events", metric_events(zw, at), start,
                         lambda e: sec(datetime.fromisoformat(e["time"])))
        walk_time_export(c, "/api/v2/incremental/ticket_events.json", "ticket_events", ticket_events(zw, at), start,
                         lambda e: int(e["timestamp"]), include="comment_events")


def test_every_export_page_equals_a_straightforward_filter_before_and_after_an_advance(zd: tuple[TestClient, SandboxState]) -> None:
    c, state = zd
    zw: ZendeskWorld = state.world.extension("zendesk")
    assert any(t.status_at(cutoff(state)) == "deleted" for t in zw.visible_tickets(cutoff(state)))  # exclude_deleted matters
    check_every_export(c, state)
    state.world.advance(5)  # tickets and users move; fixed orders show more
    check_every_export(c, state)
    state.world.now -= timedelta(days=2, seconds=17)  # set back, off the minute: an older cutoff is recomputed, not reused
    check_every_export(c, state)


def test_sample_export_and_cursor_metric_events_equal_a_straightforward_filter(zd: tuple[TestClient, SandboxState]) -> None:
    c, state = zd
    zw: ZendeskWorld = state.world.extension("zendesk")
    at = cutoff(state)
    start = sec(zw.tickets[len(zw.tickets) // 3].created_at)
    for resource, expected in (("tickets", tickets(zw, at)), ("users", users(zw, at)), ("organizations", organizations(zw, at)),
                               ("ticket_events", ticket_events(zw, at))):
        body = get(c, f"/api/v2/incremental/{resource}/sample.json", start_time=start)
        want = [r[1] for r in expected if r[0] >= start][:50]
        assert [x["id"] for x in body[resource]] == want and body["count"] == len(want), resource
    seen: list[int] = []
    params: dict[str, Any] = {"start_time": start, "page[size]": 97}
    while True:
        body = get(c, "/api/v2/incremental/ticket_metric_events.json", **params)
        seen += [e["id"] for e in body["ticket_metric_events"]]
        if not body["meta"]["has_more"]:
            break
        params = {"start_time": start, "page[size]": 97, "page[after]": body["meta"]["after_cursor"]}
    assert seen == [r[1] for r in metric_events(zw, at) if r[0] >= start] and len(seen) > 97


@pytest.mark.parametrize("score", [None, "received", "good_with_comment", "bad_without_comment", "offered"])
def test_rating_pages_equal_a_straightforward_filter_as_the_world_moves(zd: tuple[TestClient, SandboxState], score: str | None) -> None:
    c, state = zd
    zw: ZendeskWorld = state.world.extension("zendesk")
    start = sec(zw.tickets[len(zw.tickets) // 4].created_at)
    for _ in range(2):
        now = state.world.now

        def keeps(s: str, comment: str | None) -> bool:
            rated = s in ("good", "bad")
            if score is None:
                return True
            head, _, tail = score.partition("_")
            ok = {"received": rated, "offered": s == "offered"}.get(head, s == head)
            return ok and (tail != "with_comment" or (rated and bool(comment))) and (tail != "without_comment" or not (rated and comment))

        expected = [r.id for r in zw.ratings if r.offered_at <= now and sec(r.offered_at) >= start and keeps(r.score_at(now), r.comment)]
        seen: list[int] = []
        params: dict[str, Any] = {"start_time": start, "page[size]": 9, **({"score": score} if score else {})}
        while True:
            body = get(c, "/api/v2/satisfaction_ratings.json", **params)
            seen += [r["id"] for r in body["satisfaction_ratings"]]
            if not body["meta"]["has_more"]:
                break
            params = {**params, "page[after]": body["meta"]["after_cursor"]}
        assert seen == expected and expected, score
        state.world.advance(10)  # offered ratings get rated: the same filter, another answer


def test_survey_responses_pages_as_the_world_moves(zd: tuple[TestClient, SandboxState]) -> None:
    c, state = zd
    zw: ZendeskWorld = state.world.extension("zendesk")
    state.world.now = max(s.responded_at for s in zw.survey_responses) - timedelta(days=20)
    for _ in range(2):
        expected = [s.id for s in zw.survey_responses if s.responded_at <= state.world.now]
        seen: list[str] = []
        params: dict[str, Any] = {"page[size]": 13}
        while True:
            body = get(c, "/api/v2/guide/survey_responses.json", **params)
            seen += [s["id"] for s in body["survey_responses"]]
            if not body["meta"]["has_more"]:
                break
            params = {"page[size]": 13, "page[after]": body["meta"]["after_cursor"]}
        assert seen == expected and len(expected) > 13
        # Filtered by creation (milliseconds, both ends inclusive), every page keeping the filter.
        start, end = zw.survey_responses[3].responded_at, zw.survey_responses[30].responded_at
        window = {"filter[created_at_start]": int(start.timestamp() * 1000), "filter[created_at_end]": int(end.timestamp() * 1000)}
        expected = [s.id for s in zw.survey_responses if start <= s.responded_at <= min(end, state.world.now)]
        seen, params = [], {"page[size]": 7, **window}
        while True:
            body = get(c, "/api/v2/guide/survey_responses.json", **params)
            seen += [s["id"] for s in body["survey_responses"]]
            if not body["meta"]["has_more"]:
                break
            params = {"page[size]": 7, "page[after]": body["meta"]["after_cursor"], **window}
        assert seen == expected and len(expected) > 7
        state.world.advance(10)
    refused = c.get("/api/v2/guide/survey_responses.json", params={"sort": "-id"}, headers=TOKEN_AUTH)
    assert refused.status_code == 400  # a documented parameter the simulator does not model: refused, not ignored


def test_cursor_positions_bisect_on_second_then_id() -> None:
    rows = ByTime([(5, 3, "c"), (5, 1, "a"), (4, 9, "z"), (7, 2, "x"), (5, 2, "b")])
    assert rows.records == ["z", "a", "b", "c", "x"]
    assert rows.after(5, 1) == 2 and rows.after(5, -1) == 1 and rows.after(5, 2**63) == 4 and rows.after(6, -1) == 4
    assert rows.since(5) == 1 and rows.upto(5) == 4 and rows.upto(3) == 0 and rows.since(8) == 5
