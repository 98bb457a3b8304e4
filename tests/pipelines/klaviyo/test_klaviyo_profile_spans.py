"""Changed profiles read as parallel `updated` spans (pipelines/klaviyo/source.py `profile_span`): with small pages,
so that the small world splits, the loaded profiles are exactly the world's (computed from the world), each once, and
an incremental run after the world moved on loads every profile it changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from pipelines.klaviyo import settings
from pipelines.klaviyo import source as klaviyo_source
from pipelines.run import run_provider
from sandbox.klaviyo import SANDBOX_CREDENTIALS
from tests.helpers import http, raw_query

SMALL_PAGE = 10
MEMBER_PAGE = 5


@pytest.fixture
def small_pages(klaviyo_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setitem(settings.PAGE_SIZES, "/api/profiles", SMALL_PAGE)
    monkeypatch.setattr("pipelines.klaviyo.source.CHAIN_PAGES_PER_ITEM", 1)  # each chain handed on page by page
    return klaviyo_env


def world_profiles(sandbox: Any) -> set[str]:
    world = sandbox.world
    return {p.id for p in world.extension("klaviyo").profiles if p.created <= world.now}


def profile_queries(sandbox: Any) -> list[dict[str, str]]:
    return [r["query"] for r in sandbox.state.provider_store("klaviyo")["requests"] if r["op"] == "get_profiles"]


def loaded() -> list[tuple[str, Any]]:
    return [(r[0], r[1]) for r in raw_query("klaviyo", "select id, updated from raw_klaviyo.profiles")]


def test_split_spans_load_exactly_the_world_profiles_once(small_pages: Any) -> None:
    expected = world_profiles(small_pages)
    assert len(expected) > SMALL_PAGE * 6  # enough pages to split
    summary = run_provider("klaviyo", resources=["profiles"])
    rows = loaded()
    assert {pid for pid, _ in rows} == expected
    assert len(rows) == len(expected)
    assert summary.rows_extracted["profiles"] == len(expected)  # none fetched twice (merge would hide it, this count not)
    queries = profile_queries(small_pages)
    # Really split: a tail page and more than one bounded chain, every one on the small page size.
    assert any(q.get("sort") == "-updated" for q in queries)
    assert sum(1 for q in queries if "less-than(updated," in q.get("filter", "")) >= 2
    assert all(q.get("page[size]") == str(SMALL_PAGE) for q in queries)
    assert small_pages.state.stats["klaviyo"].by_status.get(429, 0) == 0


def test_incremental_after_split_spans_loads_every_changed_profile(small_pages: Any) -> None:
    run_provider("klaviyo", resources=["profiles"])
    first = dict(loaded())
    small_pages.world.advance(30)
    second_run = run_provider("klaviyo", resources=["profiles"])
    rows = dict(loaded())
    assert set(rows) == world_profiles(small_pages)
    changed = {pid for pid, updated in rows.items() if pid not in first or updated != first[pid]}
    assert changed  # the world changed profiles in 30 days
    # Each changed profile was read (at least once: spans overlap by a second), and the latest version kept: a third
    # run finds nothing newer.
    assert second_run.rows_extracted["profiles"] >= len(changed)
    third = run_provider("klaviyo", resources=["profiles"])
    assert third.rows_extracted.get("profiles", 0) == 0
    assert dict(loaded()) == rows


def world_members(sandbox: Any) -> dict[tuple[str, str], Any]:
    world = sandbox.world
    kw = world.extension("klaviyo")
    return {(g.id, pid): joined for g in kw.groups for pid, joined in g.members
            if joined <= world.now and kw.profiles_by_id[pid].created <= world.now}


@pytest.fixture
def small_member_pages(klaviyo_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for plural in ("lists", "segments"):
        monkeypatch.setitem(settings.PAGE_SIZES, f"/api/{plural}/{{id}}/profiles", MEMBER_PAGE)
    monkeypatch.setattr("pipelines.klaviyo.source.CHAIN_PAGES_PER_ITEM", 2)
    monkeypatch.setattr("pipelines.klaviyo.source.KEYED_PAGES_PER_CHAIN", 2)  # many spans per group
    return klaviyo_env


def member_queries(sandbox: Any) -> list[dict[str, str]]:
    return [r["query"] for r in sandbox.state.provider_store("klaviyo")["requests"] if r["op"].startswith("get_profiles_for_")]


def test_group_members_read_as_joined_spans_load_every_member_once(small_member_pages: Any) -> None:
    """Each group's members are read as parallel `joined_group_at` spans (source.keyed_span), each chain a few pages
    per extract-pool item: every member arrives, each once."""
    expected = world_members(small_member_pages)
    assert max(sum(1 for gid, _ in expected if gid == g) for g, _ in expected) > MEMBER_PAGE * 8  # a group splits
    summary = run_provider("klaviyo", resources=["group_members"])
    loaded_pairs = raw_query("klaviyo", "select group_id, profile_id from raw_klaviyo.group_members")
    assert set(loaded_pairs) == set(expected) and len(loaded_pairs) == len(expected)
    assert summary.rows_extracted["group_members"] == len(expected)
    queries = member_queries(small_member_pages)
    assert any(q.get("sort") == "-joined_group_at" for q in queries)
    assert sum(1 for q in queries if "less-than(joined_group_at," in q.get("filter", "")) >= 2  # really split
    assert small_member_pages.state.stats["klaviyo"].by_status.get(429, 0) == 0


@pytest.mark.parametrize("resource", ["group_members", "profiles"])
def test_span_edges_on_records_stamps_lose_and_repeat_nothing(resource: str, small_pages: Any, small_member_pages: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans cut exactly at stamps that records hold (the harshest edge: records on both sides of a bound and at it):
    the spans still partition the records, none lost at an edge and none read twice."""
    world = small_pages.world
    kw = world.extension("klaviyo")
    if resource == "profiles":
        expected: set[Any] = world_profiles(small_pages)
        stamps = sorted(r[1] for r in _profile_stamps(small_pages))
    else:
        expected = set(world_members(small_pages))
        stamps = sorted(world_members(small_pages).values())

    def on_stamps(lo: Any, hi: Any, parts: int, _a: float, _b: float) -> list[Any]:
        inside = [t for t in stamps if lo < t < hi]
        return [lo, *sorted({inside[len(inside) * i // parts] for i in range(1, parts) if inside}), hi]

    monkeypatch.setattr(klaviyo_source, "split_by_density", on_stamps)
    assert kw.groups
    summary = run_provider("klaviyo", resources=[resource])
    if resource == "profiles":
        rows = loaded()
        assert {pid for pid, _ in rows} == expected and len(rows) == len(expected)
    else:
        pairs = raw_query("klaviyo", "select group_id, profile_id from raw_klaviyo.group_members")
        assert set(pairs) == expected and len(pairs) == len(expected)
    assert summary.rows_extracted[resource] == len(expected)  # none fetched twice
    field = "updated" if resource == "profiles" else "joined_group_at"
    requests = [r["query"] for r in small_pages.state.provider_store("klaviyo")["requests"]]
    assert sum(1 for q in requests if f"less-than({field}," in q.get("filter", "")) >= 2  # really cut


def _profile_stamps(sandbox: Any) -> list[tuple[str, Any]]:
    """(id, updated) of every visible profile, as the simulator serves them."""
    headers = {"Authorization": f"Klaviyo-API-Key {SANDBOX_CREDENTIALS['api_key']}", "revision": "2026-07-15"}
    url: str | None = f"{sandbox.url}/klaviyo/api/profiles"
    params: dict[str, str] | None = {"page[size]": "100", "sort": "updated"}
    found: list[tuple[str, Any]] = []
    while url:
        body = http().get(url, headers=headers, params=params, timeout=30).json()
        found += [(p["id"], datetime.fromisoformat(p["attributes"]["updated"])) for p in body["data"]]
        url, params = body["links"].get("next"), None
    return found
