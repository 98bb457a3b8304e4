"""Group members after the first load are changed by what changed (pipelines/klaviyo/source.py `member_update`):
joiners since the newest join loaded are merged when Klaviyo's profile_count shows nobody left, and a group that lost
members is read again in full, its leavers deleted. Each test changes the simulated world's memberships, runs the
real pipeline, and compares the loaded table with the world's own members (computed from the world, not the API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from pipelines.run import run_provider
from tests.helpers import raw_query

RESOURCES = ["groups", "group_members"]


def world_members(sandbox: Any) -> dict[tuple[str, str], Any]:
    world = sandbox.world
    kw = world.extension("klaviyo")
    return {(g.id, pid): joined for g in kw.groups for pid, joined in g.members
            if joined <= world.now and kw.profiles_by_id[pid].created <= world.now}


def loaded_members() -> dict[tuple[str, str], Any]:
    rows = raw_query("klaviyo", "select group_id, profile_id, joined_group_at from raw_klaviyo.group_members")
    assert len(rows) == len({(g, p) for g, p, _ in rows})  # no member twice
    return {(g, p): joined for g, p, joined in rows}


def assert_loaded_is_the_world(sandbox: Any) -> None:
    expected = world_members(sandbox)
    loaded = loaded_members()
    assert set(loaded) == set(expected)
    assert all(loaded[k] == expected[k] for k in expected)  # rejoiners carry their latest join


class Requests:
    """The members requests the sandbox saw from a point on, per group."""

    def __init__(self, sandbox: Any) -> None:
        self.log = sandbox.state.provider_store("klaviyo")["requests"]
        self.start = len(self.log)

    def of(self, gid: str) -> list[dict[str, str]]:
        return [r["query"] for r in list(self.log)[self.start:] if r["op"].startswith("get_profiles_for_") and f"/{gid}/" in r["path"]]


def read_in_full(queries: list[dict[str, str]]) -> bool:
    """A full read starts with a page that has no `joined_group_at` bound; the joiners' read always has one."""
    return any("filter" not in q for q in queries)


def first_load(sandbox: Any) -> Any:
    run_provider("klaviyo", resources=RESOURCES)
    assert_loaded_is_the_world(sandbox)
    return sandbox.world.extension("klaviyo")


def later(sandbox: Any, minutes: float = 30) -> Any:
    """Move the world on a little (the simulator's member index is per moment); returns the new `now`."""
    return sandbox.world.advance(minutes / 1440)


def some_group(kw: Any) -> Any:
    return max(kw.groups, key=lambda g: len(g.members))


def outsider(kw: Any, group: Any, now: Any) -> str:
    inside = {pid for pid, _ in group.members}
    return next(p.id for p in kw.profiles if p.id not in inside and p.created <= now)


def test_no_change_costs_one_members_request_per_group(klaviyo_env: Any) -> None:
    kw = first_load(klaviyo_env)
    before = loaded_members()
    requests = Requests(klaviyo_env)
    summary = run_provider("klaviyo", resources=RESOURCES)
    assert loaded_members() == before
    for g in kw.groups:
        assert len(requests.of(g.id)) == 1, g.name
        assert not read_in_full(requests.of(g.id))
    # Only the members of each group's newest join second are read again (merged: no row added).
    newest = {gid: max(t for (g, _), t in before.items() if g == gid) for gid, _ in before}
    assert summary.rows_extracted.get("group_members", 0) == sum(1 for (g, _), t in before.items() if t == newest[g])


def test_a_joiner_appears_without_a_full_read(klaviyo_env: Any) -> None:
    kw = first_load(klaviyo_env)
    group = some_group(kw)
    now = klaviyo_env.world.now
    joiner = outsider(kw, group, now)
    group.members.append((joiner, now + timedelta(minutes=5)))
    later(klaviyo_env)
    requests = Requests(klaviyo_env)
    run_provider("klaviyo", resources=RESOURCES)
    assert_loaded_is_the_world(klaviyo_env)
    assert (group.id, joiner) in loaded_members()
    assert len(requests.of(group.id)) == 1 and not read_in_full(requests.of(group.id))


@pytest.mark.parametrize("with_joiner", [False, True], ids=["leaver", "leaver-and-joiner"])
def test_a_leaver_disappears_through_a_full_read_of_its_group(klaviyo_env: Any, with_joiner: bool) -> None:
    """A leaver is seen in the count (with a joiner as well, the count does not move: the sum still tells)."""
    kw = first_load(klaviyo_env)
    group = some_group(kw)
    now = klaviyo_env.world.now
    joiner = outsider(kw, group, now)  # before the leaver is one
    leaver = group.members[0][0]
    group.members.remove(group.members[0])
    if with_joiner:
        group.members.append((joiner, now + timedelta(minutes=5)))
    later(klaviyo_env)
    requests = Requests(klaviyo_env)
    run_provider("klaviyo", resources=RESOURCES)
    assert_loaded_is_the_world(klaviyo_env)
    assert (group.id, leaver) not in loaded_members()
    assert read_in_full(requests.of(group.id))
    for other in kw.groups:
        if other is not group:
            assert len(requests.of(other.id)) == 1 and not read_in_full(requests.of(other.id)), other.name
    (count,) = raw_query("klaviyo", "select profile_count from raw_klaviyo.group_profile_counts where group_id = ? order by taken_at desc limit 1", [group.id])[0]
    assert count == sum(1 for g, _ in loaded_members() if g == group.id)


def test_a_rejoiner_is_updated_not_counted_twice(klaviyo_env: Any) -> None:
    """A member who left and came back since the last run is a joiner already loaded: no leaver, its row updated."""
    kw = first_load(klaviyo_env)
    group = some_group(kw)
    now = klaviyo_env.world.now
    member, joined = group.members[0]
    group.members[0] = (member, now + timedelta(minutes=5))
    later(klaviyo_env)
    requests = Requests(klaviyo_env)
    run_provider("klaviyo", resources=RESOURCES)
    assert_loaded_is_the_world(klaviyo_env)
    assert loaded_members()[(group.id, member)] == now + timedelta(minutes=5) != joined
    assert len(requests.of(group.id)) == 1 and not read_in_full(requests.of(group.id))


def test_a_group_klaviyo_no_longer_lists_loses_its_members(klaviyo_env: Any) -> None:
    kw = first_load(klaviyo_env)
    gone = some_group(kw)
    kw.groups.remove(gone)
    del kw.groups_by_id[gone.id]
    later(klaviyo_env)
    run_provider("klaviyo", resources=RESOURCES)
    assert_loaded_is_the_world(klaviyo_env)
    assert not any(g == gone.id for g, _ in loaded_members())
