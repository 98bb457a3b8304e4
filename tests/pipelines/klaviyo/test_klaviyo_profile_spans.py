"""Changed profiles read as parallel `updated` spans (pipelines/klaviyo/source.py `profile_span`): with small pages,
so that the small world splits, the loaded profiles are exactly the world's (computed from the world), each once, and
an incremental run after the world moved on loads every profile it changed."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.klaviyo import settings
from pipelines.run import run_provider
from tests.helpers import raw_query

SMALL_PAGE = 10


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


def test_a_cursor_chain_read_a_few_pages_per_item_loads_every_member(klaviyo_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cursor chain is read a few pages per extract-pool item, the rest handed on as the next item
    (`source.page_chain`): with two pages per item and small pages, every group's members arrive, each once."""
    for plural in ("lists", "segments"):
        monkeypatch.setitem(settings.PAGE_SIZES, f"/api/{plural}/{{id}}/profiles", SMALL_PAGE)
    monkeypatch.setattr("pipelines.klaviyo.source.MEMBER_PAGES_PER_ITEM", 2)
    world = klaviyo_env.world
    kw = world.extension("klaviyo")
    expected = {(g.id, pid) for g in kw.groups for pid, joined in g.members
                if joined <= world.now and kw.profiles_by_id[pid].created <= world.now}
    assert max(sum(1 for gid, _ in expected if gid == g.id) for g in kw.groups) > SMALL_PAGE * 2 * 2  # several items
    summary = run_provider("klaviyo", resources=["group_members"])
    loaded_pairs = raw_query("klaviyo", "select group_id, profile_id from raw_klaviyo.group_members")
    assert set(loaded_pairs) == expected and len(loaded_pairs) == len(expected)
    assert summary.rows_extracted["group_members"] == len(expected)
