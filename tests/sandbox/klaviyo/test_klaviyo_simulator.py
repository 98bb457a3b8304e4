"""The Klaviyo simulator speaks the documented API: shapes validated against the official spec, errors, limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from sandbox.klaviyo import SANDBOX_CREDENTIALS
from tests.helpers import http
from tests.sandbox.klaviyo.klaviyo_spec import validate_response

HEADERS = {"Authorization": f"Klaviyo-API-Key {SANDBOX_CREDENTIALS['api_key']}", "revision": "2026-07-15"}


def get(server: Any, path: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
    return http().get(f"{server.url}/klaviyo{path}", headers=HEADERS if headers is None else headers, params=params, timeout=30)


def all_pages(server: Any, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    response = get(server, path, **params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["data"]
        nxt = body["links"].get("next")
        if not nxt:
            return items
        response = http().get(nxt, headers=HEADERS, timeout=30)


@pytest.fixture(autouse=True)
def _generous_limits(request: pytest.FixtureRequest) -> None:
    """Shape tests fire many calls; the rate-limit test uses its own unscaled sandbox."""
    for name in ("module_sandbox", "sandbox"):
        if name in request.fixturenames:
            request.getfixturevalue(name).state.provider_store("klaviyo")["rate_scale"] = 50.0


@pytest.mark.parametrize(
    ("path", "spec_path", "params"),
    [
        ("/api/metrics", "/api/metrics", {}),
        ("/api/campaigns", "/api/campaigns", {"filter": "equals(messages.channel,'email')", "include": "campaign-messages"}),
        ("/api/flows", "/api/flows", {}),
        ("/api/events", "/api/events", {"page[size]": "50"}),
        ("/api/profiles", "/api/profiles", {"additional-fields[profile]": "subscriptions", "page[size]": "100"}),
        ("/api/segments", "/api/segments", {}),
        ("/api/lists", "/api/lists", {}),
    ],
)
def test_collections_validate_against_spec(module_sandbox: Any, path: str, spec_path: str, params: dict[str, str]) -> None:
    response = get(module_sandbox, path, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.api+json")
    body = response.json()
    assert body["data"], f"{path} returned no data"
    validate_response("get", spec_path, body)


def test_children_and_details_validate_against_spec(module_sandbox: Any) -> None:
    campaign = get(module_sandbox, "/api/campaigns", filter="equals(messages.channel,'email')").json()["data"][0]
    validate_response("get", "/api/campaigns/{id}/campaign-messages", get(module_sandbox, f"/api/campaigns/{campaign['id']}/campaign-messages").json())
    flow = get(module_sandbox, "/api/flows").json()["data"][0]
    actions = get(module_sandbox, f"/api/flows/{flow['id']}/flow-actions").json()
    validate_response("get", "/api/flows/{id}/flow-actions", actions)
    messages = get(module_sandbox, f"/api/flow-actions/{actions['data'][0]['id']}/flow-messages").json()
    validate_response("get", "/api/flow-actions/{id}/flow-messages", messages)
    segment = get(module_sandbox, "/api/segments").json()["data"][0]
    detail = get(module_sandbox, f"/api/segments/{segment['id']}", **{"additional-fields[segment]": "profile_count"}).json()
    validate_response("get", "/api/segments/{id}", detail)
    assert detail["data"]["attributes"]["profile_count"] > 0
    members = get(module_sandbox, f"/api/segments/{segment['id']}/profiles").json()
    validate_response("get", "/api/segments/{id}/profiles", members)
    lst = get(module_sandbox, "/api/lists").json()["data"][0]
    validate_response("get", "/api/lists/{id}/profiles", get(module_sandbox, f"/api/lists/{lst['id']}/profiles").json())


def test_events_paginate_to_the_end_exactly_once(module_sandbox: Any) -> None:
    world = module_sandbox.world
    events = all_pages(module_sandbox, "/api/events", **{"page[size]": "1000"})
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    assert set(ids) == {e.id for e in world.extension("klaviyo").visible_events(world.now)}


def test_incremental_filter_and_sort(module_sandbox: Any) -> None:
    since = "2026-10-01T00:00:00Z"
    events = all_pages(module_sandbox, "/api/events", filter=f"greater-than(datetime,{since})", sort="datetime", **{"page[size]": "1000"})
    stamps = [e["attributes"]["datetime"] for e in events]
    assert stamps == sorted(stamps) and stamps and min(stamps) > "2026-10-01T00:00:00+00:00"
    profiles = all_pages(module_sandbox, "/api/profiles", filter=f"greater-than(updated,{since})", sort="updated", **{"page[size]": "100"})
    assert all(p["attributes"]["updated"] > "2026-10-01T00:00:00+00:00" for p in profiles)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Authorization": HEADERS["Authorization"]}, 400, "invalid"),
        ({**HEADERS, "revision": "2019-01-01"}, 400, "invalid"),
        ({"revision": "2026-07-15"}, 401, "not_authenticated"),
        ({**HEADERS, "Authorization": "Klaviyo-API-Key pk_wrong"}, 401, "authentication_failed"),
    ],
)
def test_revision_and_auth_errors(module_sandbox: Any, headers: dict[str, str], status: int, code: str) -> None:
    response = get(module_sandbox, "/api/profiles", headers=headers)
    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == code
    validate_response("get", "/api/profiles", response.json(), status=str(status))


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/campaigns", {}),  # the channel filter is required
        ("/api/events", {"filter": "greater-than(datetime,'2026-01-01T00:00:00Z')"}),  # quoted datetime
        ("/api/profiles", {"filter": "equals(updated,2026-01-01T00:00:00Z)"}),  # operator not allowed on updated
        ("/api/events", {"page[size]": "1001"}),
        ("/api/segments", {"page[size]": "11"}),
        ("/api/profiles", {"page[size]": "101"}),
    ],
)
def test_bad_requests_get_klaviyo_errors(module_sandbox: Any, path: str, params: dict[str, str]) -> None:
    response = get(module_sandbox, path, **params)
    assert response.status_code == 400, response.text
    validate_response("get", path, response.json(), status="400")


def test_rate_limit_per_operation_with_retry_after(sandbox: Any) -> None:
    sandbox.state.provider_store("klaviyo")["rate_scale"] = 1.0
    segment = get(sandbox, "/api/segments").json()["data"][0]
    statuses = []
    for _ in range(4):  # profile_count: 1/s burst
        r = get(sandbox, f"/api/segments/{segment['id']}", **{"additional-fields[segment]": "profile_count"})
        statuses.append(r.status_code)
    assert statuses[0] == 200 and 429 in statuses
    throttled = r if r.status_code == 429 else None
    assert throttled is not None
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["errors"][0]["code"] == "throttled"
    # Another operation on the same resource has its own (L tier) limit: not throttled.
    assert get(sandbox, f"/api/segments/{segment['id']}").status_code == 200
    ok = get(sandbox, "/api/profiles")
    assert all(h in ok.headers for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"))


def test_bulk_import_completes_asynchronously_and_reports_bad_rows(sandbox: Any) -> None:
    good = {"type": "profile", "attributes": {"email": "new.person@example.com", "first_name": "New", "properties": {"orders_count": 3}}}
    bad_email = {"type": "profile", "attributes": {"email": "not-an-email"}}
    bad_phone = {"type": "profile", "attributes": {"email": "ok@example.com", "phone_number": "555-1234"}}
    body = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": [good, bad_email, bad_phone]}}}}
    url = f"{sandbox.url}/klaviyo/api/profile-bulk-import-jobs"
    response = http().post(url, headers={**HEADERS, "content-type": "application/vnd.api+json"}, json=body, timeout=60)
    assert response.status_code == 202, response.text
    validate_response("post", "/api/profile-bulk-import-jobs", response.json(), status="202")
    job_id = response.json()["data"]["id"]
    statuses = []
    for _ in range(5):
        job = get(sandbox, f"/api/profile-bulk-import-jobs/{job_id}").json()
        validate_response("get", "/api/profile-bulk-import-jobs/{job_id}", job)
        statuses.append(job["data"]["attributes"]["status"])
        if statuses[-1] == "complete":
            break
    assert statuses[0] in ("queued", "processing") and statuses[-1] == "complete"
    attrs = job["data"]["attributes"]
    assert (attrs["total_count"], attrs["completed_count"], attrs["failed_count"]) == (3, 1, 2)
    errors = get(sandbox, f"/api/profile-bulk-import-jobs/{job_id}/import-errors").json()
    validate_response("get", "/api/profile-bulk-import-jobs/{id}/import-errors", errors)
    pointers = sorted(e["attributes"]["source"]["pointer"] for e in errors["data"])
    assert pointers == ["/data/attributes/profiles/data/1", "/data/attributes/profiles/data/2"]
    # The good row is now a profile with its property.
    found = get(sandbox, "/api/profiles", filter="equals(email,'new.person@example.com')").json()["data"]
    assert found and found[0]["attributes"]["properties"]["orders_count"] == 3


def test_bulk_import_rejects_oversized_and_empty_jobs(sandbox: Any) -> None:
    url = f"{sandbox.url}/klaviyo/api/profile-bulk-import-jobs"
    headers = {**HEADERS, "content-type": "application/vnd.api+json"}
    empty = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": []}}}}
    assert http().post(url, headers=headers, json=empty, timeout=60).status_code == 400
    too_many = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": [
        {"type": "profile", "attributes": {"email": f"p{i}@example.com"}} for i in range(10_001)]}}}}
    assert http().post(url, headers=headers, json=too_many, timeout=60).status_code in (400, 413)


def test_world_is_consistent(module_sandbox: Any) -> None:
    world = module_sandbox.world
    kw = world.extension("klaviyo")
    # Every profile is a Shopify customer (same email); campaigns only reach profiles subscribed at send time.
    assert {p.email for p in kw.profiles} == {c.email for c in world.customers}
    received = [e for e in kw.events if e.metric == "Received Email" and e.message_id in {c.message.id for c in kw.campaigns}]
    for e in received[:500]:
        profile = kw.profiles_by_id[e.profile_id]
        assert profile.subscribed_at is not None and profile.subscribed_at <= e.datetime
    # Some orders follow an email touch and some do not; machine opens exist.
    assert 0 < len(kw.klaviyo_attribution) < len(world.orders)
    assert any(e.machine_open for e in kw.events)
    # Klaviyo's attribution stays within 5 days of a touch before the order.
    events = {e.id: e for e in kw.events}
    for order in world.orders[:300]:
        if order.id in kw.klaviyo_attribution:
            touch = events[kw.klaviyo_attribution[order.id][1]]
            assert order.created_at - touch.datetime <= timedelta(days=5)
            assert touch.datetime <= order.created_at
