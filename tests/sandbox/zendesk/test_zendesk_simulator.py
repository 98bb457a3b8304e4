"""The Zendesk simulator is as strict as Zendesk (auth, error shapes, rate limits, pagination bounds, the export's
one-minute delay) and its world is coherent with the shared customers and with its own SLA records."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sandbox.common.state import SandboxState
from sandbox.world import World
from sandbox.zendesk import SANDBOX_CREDENTIALS as C
from sandbox.zendesk import create_app
from sandbox.zendesk.webhooks import event_payloads, signature

TOKEN_AUTH = {"Authorization": "Basic " + base64.b64encode(f"{C['email']}/token:{C['api_token']}".encode()).decode()}


def client(options: dict[str, Any] | None = None, scale: str = "small") -> tuple[TestClient, SandboxState]:
    state = SandboxState(World(scale=scale), latency="zero", options={"zendesk_rate_scale": 100} if options is None else options)
    return TestClient(create_app(state)), state


@pytest.fixture(scope="module")
def zd() -> Iterator[tuple[TestClient, SandboxState]]:
    yield client()


def get(c: TestClient, path: str, **params: Any) -> Any:
    return c.get(path, params=params, headers=TOKEN_AUTH)


@pytest.mark.parametrize("header", [
    None,
    "Basic " + base64.b64encode(f"{C['email']}/token:wrong".encode()).decode(),
    "Basic " + base64.b64encode(f"{C['email']}:a-password".encode()).decode(),  # password auth is off by default
    "Basic !!!",
])
def test_bad_credentials_get_zendesks_401(zd: tuple[TestClient, SandboxState], header: str | None) -> None:
    c, _ = zd
    response = c.get("/api/v2/groups.json", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}


def test_dead_bearer_token_gets_invalid_token(zd: tuple[TestClient, SandboxState]) -> None:
    c, _ = zd
    response = c.get("/api/v2/groups.json", headers={"Authorization": "Bearer zat_nope"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_unknown_paths_methods_and_parameters_answer_in_zendesks_shape(zd: tuple[TestClient, SandboxState]) -> None:
    c, _ = zd
    for response in (get(c, "/api/v2/incremental/groups.json"), c.post("/api/v2/groups.json", headers=TOKEN_AUTH), get(c, "/nope")):
        assert response.status_code == 404
        assert response.json() == {"error": "InvalidEndpoint", "description": "Not found"}
    typo = get(c, "/api/v2/groups.json", pagesize=10)
    assert typo.status_code == 400 and typo.json()["error"] == "InvalidParameter" and "pagesize" in typo.json()["description"]
    sideload = get(c, "/api/v2/incremental/tickets/cursor.json", start_time=0, include="metrics")
    assert sideload.status_code == 400 and sideload.json()["error"] == "InvalidSideload"


def test_both_paths_with_and_without_json_suffix(zd: tuple[TestClient, SandboxState]) -> None:
    c, state = zd
    assert get(c, "/api/v2/groups").json() == get(c, "/api/v2/groups.json").json()
    zw, now = state.world.extension("zendesk"), state.world.now
    ticket = next(t for t in zw.tickets if t.created_at <= now and t.status_at(now) == "closed")
    deleted = next(t for t in zw.tickets if t.created_at <= now and t.status_at(now) == "deleted")
    one = get(c, f"/api/v2/tickets/{ticket.id}.json", include="metric_events")
    assert one.status_code == 200 and one.json() == get(c, f"/api/v2/tickets/{ticket.id}", include="metric_events").json()
    assert one.json()["ticket"]["id"] == ticket.id and one.json()["metric_events"]["reply_time"]
    assert get(c, f"/api/v2/tickets/{deleted.id}.json").json() == {"error": "RecordNotFound", "description": "Not found"}


@pytest.mark.parametrize("params", [{"page[size]": 0}, {"page[size]": 101}, {"page[size]": "ten"}, {"page": 101}, {"page": 2, "per_page": 5001},
                                    {"page[size]": 10, "page": 2}])
def test_pagination_bounds(zd: tuple[TestClient, SandboxState], params: dict[str, Any]) -> None:
    c, _ = zd
    response = get(c, "/api/v2/satisfaction_ratings.json", **params)
    assert response.status_code == 400
    body = response.json()
    assert "error" in body or body["errors"][0]["code"] in ("InvalidPaginationParameter", "InvalidPaginationDepth")


def test_offset_pagination_beyond_10000_records_is_the_2024_400(zd: tuple[TestClient, SandboxState]) -> None:
    c, _ = zd
    assert get(c, "/api/v2/groups.json", page=100, per_page=100).status_code == 200  # exactly 10,000 records deep
    response = get(c, "/api/v2/groups.json", page=101, per_page=100)
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "InvalidPaginationDepth"


def test_cursor_pagination_walks_every_rating_once(zd: tuple[TestClient, SandboxState]) -> None:
    c, state = zd
    seen: list[int] = []
    params: dict[str, Any] = {"page[size]": 7}
    while True:
        body = get(c, "/api/v2/satisfaction_ratings.json", **params).json()
        seen += [r["id"] for r in body["satisfaction_ratings"]]
        if not body["meta"]["has_more"]:
            assert body["links"]["next"] is None
            break
        params = {"page[size]": 7, "page[after]": body["meta"]["after_cursor"]}
    expected = [r.id for r in state.world.extension("zendesk").ratings if r.offered_at <= state.world.now]
    assert seen == expected and len(seen) == len(set(seen)) > 7


def test_incremental_exports_allow_10_per_minute_with_zendesks_429() -> None:
    c, _ = client(options={})
    statuses = [get(c, "/api/v2/incremental/organizations.json", start_time=0) for _ in range(11)]
    assert [r.status_code for r in statuses[:10]] == [200] * 10
    assert statuses[9].headers["zendesk-ratelimit-incremental-exports"].startswith("total=10; remaining=0; resets=")
    throttled = statuses[10]
    assert throttled.status_code == 429
    assert throttled.json() == {"error": "APIRateLimitExceeded", "description": "Number of allowed incremental export API requests per minute exceeded"}
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    # The account limit is separate: plain lists still answer.
    assert get(c, "/api/v2/groups.json").status_code == 200


def test_high_volume_add_on_allows_30_per_minute() -> None:
    c, _ = client(options={"zendesk_high_volume": "true"})
    codes = Counter(get(c, "/api/v2/incremental/organizations.json", start_time=0).status_code for _ in range(31))
    assert codes == {200: 30, 429: 1}


@pytest.mark.parametrize(("options", "limit", "others"), [({}, 20, 10), ({"zendesk_high_volume": "true"}, 60, 30)])
def test_the_cursor_user_export_has_its_own_limit_beside_the_other_exports(options: dict[str, str], limit: int, others: int) -> None:
    """Zendesk's reference ("Incremental User Export, Cursor Based" > Limits): 20 a minute, 60 with High Volume, in
    `Zendesk-RateLimit-incremental-exports-cursor`; it neither spends nor is stopped by the other exports' 10."""
    c, _ = client(options=options)
    assert all(get(c, "/api/v2/incremental/organizations.json", start_time=0).status_code == 200 for _ in range(others))
    assert get(c, "/api/v2/incremental/organizations.json", start_time=0).status_code == 429
    users = [get(c, "/api/v2/incremental/users/cursor.json", start_time=0) for _ in range(limit + 1)]
    assert [r.status_code for r in users[:limit]] == [200] * limit
    first, last = users[0].headers, users[limit - 1].headers
    assert first["zendesk-ratelimit-incremental-exports-cursor"].startswith(f"total={limit}; remaining={limit - 1}; resets=")
    assert last["zendesk-ratelimit-incremental-exports-cursor"].startswith(f"total={limit}; remaining=0; resets=")
    assert "zendesk-ratelimit-incremental-exports" not in first
    assert users[limit].status_code == 429 and 1 <= int(users[limit].headers["Retry-After"]) <= 60
    assert get(c, "/api/v2/groups.json").status_code == 200  # the account's limit is apart from both


def test_account_limit_per_plan_answers_429_in_plain_text() -> None:
    c, _ = client(options={"zendesk_plan": "team", "zendesk_rate_scale": 0.05})  # 200/min scaled to 10/min
    responses = [get(c, "/api/v2/groups.json") for _ in range(11)]
    assert responses[0].headers["X-Rate-Limit"] == "10" and responses[0].headers["ratelimit-remaining"] == "9"
    assert responses[10].status_code == 429
    assert responses[10].text == "Number of allowed API requests per minute exceeded"
    assert responses[10].headers["content-type"].startswith("text/plain") and "Retry-After" in responses[10].headers


def test_export_excludes_the_last_minute_and_refuses_a_too_recent_start_time() -> None:
    c, state = client()
    zw = state.world.extension("zendesk")
    target = next(t for t in zw.tickets if t.created_at > state.world.now)
    state.world.now = target.created_at + timedelta(seconds=30)  # the ticket is 30 s old
    ids = {t["id"] for t in get(c, "/api/v2/incremental/tickets/cursor.json", start_time=0).json()["tickets"]}
    assert target.id not in ids
    recent = get(c, "/api/v2/incremental/tickets/cursor.json", start_time=int(state.world.now.timestamp()) - 30)
    assert recent.status_code == 400
    state.world.now = target.created_at + timedelta(seconds=61)
    ids = {t["id"] for t in get(c, "/api/v2/incremental/tickets/cursor.json", start_time=0).json()["tickets"]}
    assert target.id in ids


def test_cursor_export_pages_to_end_of_stream_then_resumes_with_only_the_changes() -> None:
    c, state = client()
    seen: list[int] = []
    body = get(c, "/api/v2/incremental/tickets/cursor.json", start_time=0, per_page=10).json()
    pages = 1
    while True:
        seen += [t["id"] for t in body["tickets"]]
        if body["end_of_stream"]:
            break
        body = get(c, "/api/v2/incremental/tickets/cursor.json", cursor=body["after_cursor"], per_page=10).json()
        pages += 1
    assert pages > 3 and len(seen) == len(set(seen))
    zw = state.world.extension("zendesk")
    before = state.world.now - timedelta(minutes=1)
    assert set(seen) == {t.id for t in zw.tickets if t.created_at <= before}
    cursor = body["after_cursor"]
    state.world.advance(3)
    after = state.world.now - timedelta(minutes=1)
    changed = {t.id for t in zw.tickets if t.created_at <= after and t.updated_at(after) > before}
    again = get(c, "/api/v2/incremental/tickets/cursor.json", cursor=cursor).json()
    assert {t["id"] for t in again["tickets"]} == changed and again["end_of_stream"]


def test_time_based_export_repeats_the_boundary_second_and_ends() -> None:
    c, state = client()
    first = get(c, "/api/v2/incremental/ticket_metric_events.json", start_time=0, per_page=50).json()
    assert not first["end_of_stream"] and first["count"] == 50
    second = get(c, "/api/v2/incremental/ticket_metric_events.json", start_time=first["end_time"], per_page=50).json()
    at_boundary = {e["id"] for e in first["ticket_metric_events"] if e["time"] == second["ticket_metric_events"][0]["time"]}
    assert at_boundary and at_boundary <= {e["id"] for e in second["ticket_metric_events"]}  # documented duplicates


def test_metric_events_are_coherent_with_the_sla_state(zd: tuple[TestClient, SandboxState]) -> None:
    _, state = zd
    zw = state.world.extension("zendesk")
    schedule = zw.schedule
    for t in zw.tickets:
        applies = {(e.metric, e.instance_id): e for e in t.metric_events if e.type == "apply_sla"}
        for e in t.metric_events:
            if e.type == "breach":
                applied = applies[(e.metric, e.instance_id)]
                assert applied.time <= e.time
                instance = next(i for i in t.sla_instances if (i.event_metric, i.instance_id) == (e.metric, e.instance_id))
                assert instance.breach_at == e.time
                if e.metric == "reply_time" and instance.target == applied.sla["target"]:  # reply clocks never pause
                    elapsed = schedule.business_minutes(applied.time, e.time) if instance.business_hours else (e.time - applied.time).total_seconds() / 60
                    assert elapsed == instance.target


def test_world_uses_the_shared_customers_and_spikes_after_black_friday() -> None:
    world = World(scale="medium")
    zw = world.extension("zendesk")
    emails = {c.email for c in world.customers}
    requesters = [zw.users_by_id[t.requester_id] for t in zw.tickets]
    assert sum(u.email in emails for u in requesters) > 0.9 * len(requesters)
    by_day = Counter(t.created_at.date() for t in zw.tickets)
    from datetime import date

    black_friday = date(2026, 11, 27)  # inside the world's pre-generated horizon
    surge = sum(by_day[black_friday + timedelta(days=n)] for n in range(1, 15))
    before = sum(by_day[black_friday - timedelta(days=n)] for n in range(15, 29))
    assert surge > 1.5 * before
    assert {"deleted", "spam", "merged"} <= {t.fate for t in zw.tickets}
    assert zw.ratings and zw.survey_responses and {r.score for r in zw.ratings if r.score} == {"good", "bad"}
    assert {s.rating for s in zw.survey_responses} == {1, 2, 3, 4, 5}


def test_oauth_code_with_pkce_then_rotating_refresh_tokens() -> None:
    c, _ = client()
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = c.get("/oauth/authorizations/new", params={"response_type": "code", "client_id": C["client_id"], "redirect_uri": "http://x/cb",
                     "code_challenge": challenge, "code_challenge_method": "S256", "scope": "read", "state": "s"}, follow_redirects=False)
    code = redirect.headers["location"].split("code=")[1].split("&")[0]
    tokens = c.post("/oauth/tokens", json={"grant_type": "authorization_code", "code": code, "client_id": C["client_id"],
                                           "client_secret": C["client_secret"], "code_verifier": verifier, "redirect_uri": "http://x/cb"})
    assert tokens.status_code == 201
    first = tokens.json()
    assert c.get("/api/v2/groups.json", headers={"Authorization": f"Bearer {first['access_token']}"}).status_code == 200
    refreshed = c.post("/oauth/tokens", json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                                              "client_id": C["client_id"], "client_secret": C["client_secret"]}).json()
    assert refreshed["refresh_token"] != first["refresh_token"]
    # The previous pair is deleted: no grace period.
    assert c.get("/api/v2/groups.json", headers={"Authorization": f"Bearer {first['access_token']}"}).status_code == 401
    again = c.post("/oauth/tokens", json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                                          "client_id": C["client_id"], "client_secret": C["client_secret"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert c.get("/api/v2/groups.json", headers={"Authorization": f"Bearer {refreshed['access_token']}"}).status_code == 200


def test_webhook_payloads_are_signed_as_documented(zd: tuple[TestClient, SandboxState]) -> None:
    _, state = zd
    zw = state.world.extension("zendesk")
    bodies = event_payloads(zw, state.world.now - timedelta(days=20), state.world.now)
    assert bodies
    stamp = "2026-11-01T00:00:00Z"
    expected = base64.b64encode(__import__("hmac").new(b"k", stamp.encode() + bodies[0], hashlib.sha256).digest()).decode()
    assert signature(bodies[0], "k", stamp) == expected
    import json

    types = {json.loads(b)["type"] for b in bodies}
    assert "zen:event-type:ticket.created" in types and "zen:event-type:ticket.status_changed" in types
