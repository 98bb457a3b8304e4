"""The simulator's indexed pages (sandbox/klaviyo/index.py) give exactly what a straightforward filter of the world
gives: the same records in the same order across every cursor page, with filters the index answers and filters it
leaves to a scan, and again after the world moves and after a bulk import changes a profile."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from sandbox.klaviyo import (
    SANDBOX_CREDENTIALS,
    JSONAPIResponse,
    event_head,
    event_json,
    events_json,
    render_event,
    serialised_document,
)
from sandbox.klaviyo.index import EventIndex
from sandbox.klaviyo.world import KlaviyoWorld
from sandbox.server import SandboxServer
from tests.helpers import http

HEADERS = {"Authorization": f"Klaviyo-API-Key {SANDBOX_CREDENTIALS['api_key']}", "revision": "2026-07-15"}


def ids_of_all_pages(server: SandboxServer, path: str, **params: str) -> list[str]:
    """Every page through `links.next`; asserts the pages are disjoint (no record twice, so no cursor overlap)."""
    ids: list[str] = []
    url: str | None = f"{server.url}/klaviyo{path}"
    query: dict[str, str] | None = params
    while url:
        response = http().get(url, headers=HEADERS, params=query, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [r["id"] for r in body["data"]]
        url, query = body["links"].get("next"), None
    assert len(ids) == len(set(ids))
    return ids


def z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(sandbox: SandboxServer) -> KlaviyoWorld:
    sandbox.state.provider_store("klaviyo")["rate_scale"] = 50.0  # many pages, quickly
    kw: KlaviyoWorld = sandbox.state.world.extension("klaviyo")
    return kw


def expected_events(sandbox: SandboxServer, kw: KlaviyoWorld, metric: str | None = None, since: datetime | None = None,
                    before: datetime | None = None, profile: str | None = None, desc: bool = False) -> list[str]:
    now = sandbox.state.world.now
    found = [e.id for e in kw.events if e.datetime <= now and (metric is None or e.metric == metric)
             and (since is None or e.datetime >= since) and (before is None or e.datetime < before)
             and (profile is None or e.profile_id == profile)]
    return found[::-1] if desc else found


def event_queries(kw: KlaviyoWorld, sandbox: SandboxServer) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """(request params, the same query as arguments of `expected_events`)."""
    opened = kw.metrics_by_name["Opened Email"].id
    placed = kw.metrics_by_name["Placed Order"].id
    middle = kw.events[len(kw.events) // 2].datetime
    busy = max(kw.profiles, key=lambda p: sum(e.profile_id == p.id for e in kw.events)).id
    return [
        ({"page[size]": "37"}, {}),
        ({"filter": f'equals(metric_id,"{opened}")', "page[size]": "50"}, {"metric": "Opened Email"}),
        ({"filter": f'and(equals(metric_id,"{opened}"),greater-or-equal(datetime,{z(middle)}))', "sort": "-datetime", "page[size]": "20"},
         {"metric": "Opened Email", "since": middle, "desc": True}),
        ({"filter": f'and(equals(metric_id,"{placed}"),greater-or-equal(datetime,{z(middle - timedelta(days=90))}),less-than(datetime,{z(middle)}))',
          "page[size]": "7"}, {"metric": "Placed Order", "since": middle - timedelta(days=90), "before": middle}),
        # profile_id is not indexed: checked on the metric's candidates
        ({"filter": f'and(equals(profile_id,"{busy}"),equals(metric_id,"{opened}"))', "page[size]": "3"}, {"metric": "Opened Email", "profile": busy}),
    ]


def test_event_pages_equal_a_straightforward_filter_before_and_after_an_advance(sandbox: SandboxServer, world: KlaviyoWorld) -> None:
    for moved in (False, True):
        if moved:
            sandbox.state.world.advance(20)
        for params, query in event_queries(world, sandbox):
            expected = expected_events(sandbox, world, **query)
            assert expected, f"the query {params} should find events in the small world"
            assert ids_of_all_pages(sandbox, "/api/events", **params) == expected
    # two different metrics: no event has both
    a, b = (world.metrics_by_name[n].id for n in ("Opened Email", "Clicked Email"))
    assert ids_of_all_pages(sandbox, "/api/events", filter=f'and(equals(metric_id,"{a}"),equals(metric_id,"{b}"))') == []


def test_pre_rendered_events_are_the_rendered_events_byte_for_byte(sandbox: SandboxServer, world: KlaviyoWorld) -> None:
    """Event pages are joined from pre-serialised heads (`event_json`); every event must come out as the dict
    renderer and the response encoder would write it, including characters JSON must escape in the base URL."""
    metric_ids = {m.name: m.id for m in world.metrics}
    heads = EventIndex(world.events, metric_ids, event_head).heads
    for root in ("http://127.0.0.1:8000/klaviyo", 'http://h\u00e9"st/k'):
        quoted = orjson.dumps(root)[1:-1]
        for e in world.events:
            expected = JSONAPIResponse({}).render(render_event(root, e, metric_ids))
            metric = orjson.dumps(metric_ids[e.metric])
            assert event_json(quoted, e, metric, heads[e.id]) == expected == event_json(quoted, e, metric)
        page = world.events[:300]
        encoded = {name: orjson.dumps(mid) for name, mid in metric_ids.items()}
        as_dicts = JSONAPIResponse({}).render({"data": [render_event(root, e, metric_ids) for e in page], "links": {"self": root}})
        assert serialised_document(events_json(quoted, page, encoded, heads), {"self": root}, {}).body == as_dicts
        assert serialised_document(events_json(quoted, page, encoded, {}), {"self": root}, {}).body == as_dicts
        for few in ([], page[:1], page[:2]):
            expected = JSONAPIResponse({}).render({"data": [render_event(root, e, metric_ids) for e in few], "links": {"self": root}})
            assert serialised_document(events_json(quoted, few, encoded, {}), {"self": root}, {}).body == expected
        # The whole bodies kept for a server's root (`EventIndex.bodies_of`), built from the heads, in the order of
        # the index's lists (all events, and each metric's).
        index = EventIndex(world.events, metric_ids, event_head)
        render = lambda r, e, head, encoded=encoded: event_json(r, e, encoded[e.metric], head)  # noqa: E731
        bodies = index.bodies_of(index.all, quoted, render)
        assert bodies is not None and index.heads == {}
        assert serialised_document(bodies[:300], {"self": root}, {}).body == as_dicts
        for mid, events in index.by_metric.items():
            assert index.bodies_of(events, quoted, render) == events_json(quoted, events, encoded, {}), mid
        assert index.bodies_of(index.all, quoted + b"/other", render) is None  # another root: not these bodies
        assert index.bodies_of(list(index.all), quoted, render) is None  # not one of the index's lists
    # Through HTTP: a sparse fieldset naming every attribute takes the dict path; the data must be the same.
    opened = world.metrics_by_name["Opened Email"].id
    params = {"filter": f'equals(metric_id,"{opened}")', "page[size]": "100"}
    fast = http().get(f"{sandbox.url}/klaviyo/api/events", headers=HEADERS, params=params, timeout=30)
    dicts = http().get(f"{sandbox.url}/klaviyo/api/events", headers=HEADERS, timeout=30,
                      params={**params, "fields[event]": "timestamp,event_properties,datetime,uuid"})
    assert fast.status_code == dicts.status_code == 200
    assert fast.json()["data"] == dicts.json()["data"] and len(fast.json()["data"]) == 100


def profile_order(sandbox: SandboxServer, kw: KlaviyoWorld, since: datetime, key: str = "updated", desc: bool = False) -> list[str]:
    now = sandbox.state.world.now
    imported = sandbox.state.provider_store("klaviyo")["imported"]

    def updated(p: Any) -> datetime:
        stamp = kw.profile_updated(p, now)
        extra = imported.get(p.email, {}).get("updated")
        return max(stamp, extra) if extra else stamp

    rows = [(updated(p) if key == "updated" else getattr(p, key), p.id) for p in kw.profiles if p.created <= now and updated(p) > since]
    return [pid for _, pid in sorted(rows, reverse=desc)]


def test_profile_pages_equal_a_straightforward_filter_after_an_advance_and_an_import(sandbox: SandboxServer, world: KlaviyoWorld) -> None:
    since = sandbox.state.world.now - timedelta(days=200)

    def check() -> None:
        query = {"filter": f"greater-than(updated,{z(since)})", "page[size]": "9"}
        assert ids_of_all_pages(sandbox, "/api/profiles", sort="updated", **query) == profile_order(sandbox, world, since)
        assert ids_of_all_pages(sandbox, "/api/profiles", sort="-updated", **query) == profile_order(sandbox, world, since, desc=True)
        # sorted on another field, so the updated filter is a scan of that order
        assert ids_of_all_pages(sandbox, "/api/profiles", sort="email", **query) == profile_order(sandbox, world, since, key="email")

    check()
    before = profile_order(sandbox, world, since)
    sandbox.state.world.advance(30)
    check()
    assert profile_order(sandbox, world, since) != before, "the advance should change which profiles were updated"
    # An import touches one old profile: it is now the most recently updated one.
    quiet = min((p for p in world.profiles if p.created <= sandbox.state.world.now), key=lambda p: world.profile_updated(p, sandbox.state.world.now))
    sandbox.state.provider_store("klaviyo")["imported"][quiet.email] = {"updated": sandbox.state.world.now}
    check()
    assert profile_order(sandbox, world, since)[-1] == quiet.id


def test_group_member_pages_equal_the_members_as_of_now(sandbox: SandboxServer, world: KlaviyoWorld) -> None:
    for moved in (False, True):
        if moved:
            sandbox.state.world.advance(45)
        now = sandbox.state.world.now
        for g in world.groups:
            expected = [pid for t, pid in sorted((t, pid) for pid, t in g.members if t <= now and world.profiles_by_id[pid].created <= now)]
            assert expected, g.name
            assert ids_of_all_pages(sandbox, f"/api/{g.kind}s/{g.id}/profiles", **{"page[size]": "11"}) == expected


def test_group_member_pages_sort_and_filter_on_joined_group_at_as_the_spec_allows(sandbox: SandboxServer, world: KlaviyoWorld) -> None:
    """`sort=-joined_group_at` reverses the join order, and the four comparisons on `joined_group_at` (all the spec
    allows on it) give exactly the members a straightforward filter gives; other fields are refused."""
    now = sandbox.state.world.now
    g = max(world.groups, key=lambda g: len(g.members))
    members = sorted((t, pid) for pid, t in g.members if t <= now and world.profiles_by_id[pid].created <= now)
    path = f"/api/{g.kind}s/{g.id}/profiles"
    assert ids_of_all_pages(sandbox, path, sort="-joined_group_at", **{"page[size]": "13"}) == [pid for _, pid in members][::-1]
    lo, hi = members[len(members) // 3][0], members[2 * len(members) // 3][0]  # stamps that members hold (ties included)
    cases = {
        f"greater-or-equal(joined_group_at,{z(lo)})": lambda t: t >= lo,
        f"greater-than(joined_group_at,{z(lo)})": lambda t: t > lo,
        f"less-than(joined_group_at,{z(hi)})": lambda t: t < hi,
        f"less-or-equal(joined_group_at,{z(hi)})": lambda t: t <= hi,
        f"and(greater-or-equal(joined_group_at,{z(lo)}),less-than(joined_group_at,{z(hi)}))": lambda t: lo <= t < hi,
    }
    for text, keep in cases.items():
        expected = [pid for t, pid in members if keep(t)]
        assert ids_of_all_pages(sandbox, path, filter=text, **{"page[size]": "17"}) == expected, text
        assert ids_of_all_pages(sandbox, path, filter=text, sort="-joined_group_at", **{"page[size]": "17"}) == expected[::-1], text
    # Windows [a, b) partition the members exactly, whatever the ties at a bound.
    edges = [members[0][0], lo, hi, members[-1][0]]
    parts = [ids_of_all_pages(sandbox, path, filter=f"and(greater-or-equal(joined_group_at,{z(a)}),less-than(joined_group_at,{z(b)}))")
             for a, b in zip(edges, edges[1:], strict=False)]
    last = ids_of_all_pages(sandbox, path, filter=f"greater-or-equal(joined_group_at,{z(edges[-1])})")
    assert [pid for part in [*parts, last] for pid in part] == [pid for _, pid in members]
    refused = http().get(f"{sandbox.url}/klaviyo{path}", headers=HEADERS, params={"sort": "created"}, timeout=30)
    assert refused.status_code == 400
    refused = http().get(f"{sandbox.url}/klaviyo{path}", headers=HEADERS, params={"filter": f"greater-than(created,{z(lo)})"}, timeout=30)
    assert refused.status_code == 400
    # As the real API: `joined_group_at` takes the four comparisons only, and a datetime unquoted.
    for text in (f"equals(joined_group_at,{z(lo)})", f"greater-than(joined_group_at,'{z(lo)}')", "greater-than(joined_group_at,yesterday)"):
        refused = http().get(f"{sandbox.url}/klaviyo{path}", headers=HEADERS, params={"filter": text}, timeout=30)
        assert refused.status_code == 400, text


PROFILE_FIELDS = "email,phone_number,external_id,first_name,last_name,organization,locale,title,image,created,updated,last_event_date,location,properties"
"""Every attribute of a profile, in the order the simulator writes them: a sparse fieldset naming them all takes the
dict renderer, so its page must hold the same bytes as the serialised one."""


def test_serialised_profile_pages_are_the_rendered_profiles_byte_for_byte(sandbox: SandboxServer, world: KlaviyoWorld) -> None:
    """Profile and member pages are joined from parts serialised once per profile (`profile_json`); every page's
    data must be what the dict renderer and the response encoder write: with and without subscriptions and
    `joined_group_at`, for profiles whose last change is still ahead of `now` and after the world moved past it, and
    for a page holding a profile a bulk import changed (rendered as dicts, with the import's attributes)."""
    group = max(world.groups, key=lambda g: len(g.members))
    members = f"/api/{group.kind}s/{group.id}/profiles"
    cases = [
        ("/api/profiles", {"additional-fields[profile]": "subscriptions", "sort": "updated"}, f"{PROFILE_FIELDS},subscriptions"),
        ("/api/profiles", {"sort": "-created"}, PROFILE_FIELDS),
        (members, {}, f"{PROFILE_FIELDS},joined_group_at"),
        (members, {"additional-fields[profile]": "subscriptions", "sort": "-joined_group_at"}, f"{PROFILE_FIELDS},subscriptions,joined_group_at"),
    ]

    def last_change(p: Any) -> datetime:
        return max([p.created, p.customer.profile_updated_at, *(t for t, _ in p.suppressions), *([p.subscribed_at] if p.subscribed_at else [])])

    def check() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for path, params, fields in cases:
            url: str | None = f"{sandbox.url}/klaviyo{path}"
            query: dict[str, str] | None = {**params, "page[size]": "100"}
            while url:
                fast = http().get(url, headers=HEADERS, params=query, timeout=30)
                dicts = http().get(f"{fast.url}&{urlencode({'fields[profile]': fields})}", headers=HEADERS, timeout=30)
                assert fast.status_code == dicts.status_code == 200, fast.text
                assert fast.content[: fast.content.rindex(b'],"links":{')] == dicts.content[: dicts.content.rindex(b'],"links":{')]
                seen |= {p["id"]: p for p in fast.json()["data"]}
                url, query = fast.json()["links"].get("next"), None
        return seen

    now = sandbox.state.world.now
    assert any(last_change(p) > now for p in world.profiles if p.created <= now), "some profiles should still change"
    assert len(check()) == sum(p.created <= now for p in world.profiles)
    sandbox.state.world.advance(60)
    check()
    quiet = next(p for p in world.profiles if p.created <= sandbox.state.world.now)
    sandbox.state.provider_store("klaviyo")["imported"][quiet.email] = {
        "updated": sandbox.state.world.now, "attributes": {"first_name": "Zoë", "properties": {"plan": "gold"}}}
    shown = check()[quiet.id]["attributes"]
    assert (shown["first_name"], shown["properties"]) == ("Zoë", {"plan": "gold"})
