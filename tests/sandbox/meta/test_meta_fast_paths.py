"""The Meta world's bulk (numpy) paths give exactly what the per-person Python loops they replaced gave.

The references below are those loops, kept here: the audience pool drawn person by person, a delivery drawn with
`random.sample` and a `random()` per person, a report's cells summed through per-person dicts, the follower mix
counted person by person. Floats are compared with `==`: the served spend must be the same to the bit.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from sandbox.meta.world import (
    AGE_BUCKETS,
    AGE_WEIGHTS,
    CITIES,
    GENDER_WEIGHTS,
    GENDERS,
    PROSPECT_COUNTRIES,
    MetaWorld,
    _apportion,
)
from sandbox.world import World
from sandbox.world.core import stable_rng


@pytest.fixture(scope="module")
def mw() -> MetaWorld:
    return World(scale="small").extension("meta")  # type: ignore[no-any-return]


def reference_people(world: World) -> list[tuple[int, str, str, str, int | None]]:
    seed, scale = world.seed, world.scale.name
    rng = stable_rng(seed, scale, "meta")
    people: list[tuple[int, str, str, str, int | None]] = []
    for c in world.customers:
        r = stable_rng(seed, "meta-person", c.id)
        people.append((len(people), r.choices(AGE_BUCKETS, AGE_WEIGHTS)[0], r.choices(GENDERS, GENDER_WEIGHTS)[0],
                       c.country_code, c.id))
    countries = [c for c, _ in PROSPECT_COUNTRIES]
    cweights = [w for _, w in PROSPECT_COUNTRIES]
    for _ in range(world.scale.customers * 60):
        people.append((len(people), rng.choices(AGE_BUCKETS, AGE_WEIGHTS)[0], rng.choices(GENDERS, GENDER_WEIGHTS)[0],
                       rng.choices(countries, cweights)[0], None))
    return people


def reference_delivery(mw: MetaWorld, pools: dict[tuple[str, ...], list[int]], ad_id: str, d: date) -> tuple[int, dict[int, int], set[int], set[int]] | None:
    ad = mw.ads_by_id[ad_id]
    adset = mw.adsets_by_id[ad.adset_id]
    if not adset.start <= d <= adset.stop:
        return None
    rng = stable_rng(mw.world.seed, mw.world.scale.name, "meta-delivery", ad_id, d.isoformat())
    spend = int(adset.daily_budget_cents / len(adset.ads) * rng.uniform(0.85, 1.1))
    cpm = rng.uniform(900, 1600)
    impressions_target = max(1, int(spend / cpm * 1000))
    eligible = pools[adset.countries]
    reach_target = min(len(eligible), max(1, int(impressions_target / rng.uniform(1.2, 1.7))))
    reached = set(rng.sample(eligible, reach_target))
    touches = mw.touches_by_ad_day.get((ad_id, d), [])
    reached |= {t.person for t in touches}
    impressions = {p: 1 + (1 if rng.random() < 0.45 else 0) for p in sorted(reached)}
    clickers = {p for p in sorted(reached) if rng.random() < 0.018} | {t.person for t in touches if t.kind == "click"}
    links = {p for p in sorted(clickers) if rng.random() < 0.7} | {t.person for t in touches if t.kind == "click"}
    return spend, impressions, clickers, links


def reference_cells(mw: MetaWorld, ad_ids: list[str], days: list[date], dims: list[str]) -> dict[Any, dict[str, Any]]:
    imps: dict[int, int] = {}
    spend: dict[int, float] = {}
    clicks: dict[int, int] = {}
    links: dict[int, int] = {}
    for a in ad_ids:
        for d in days:
            dv = mw.delivery(a, d)
            if dv is None:
                continue
            per_imp = dv.spend_cents / sum(dv.impressions.values())
            for person, n in dv.impressions.items():
                imps[person] = imps.get(person, 0) + n
                spend[person] = spend.get(person, 0.0) + n * per_imp
            for person in dv.clickers:
                clicks[person] = clicks.get(person, 0) + 1
            for person in dv.link_clickers:
                links[person] = links.get(person, 0) + 1
    by_key: dict[Any, list[int]] = {}
    for reached in imps:
        who = mw.people[reached]
        by_key.setdefault(tuple((b, getattr(who, b)) for b in dims), []).append(reached)
    return {key: {"impressions": sum(imps[p] for p in people), "spend": sum(spend[p] for p in people), "reach": len(people),
                  "clicks": sum(clicks.get(p, 0) for p in people), "links": sum(links.get(p, 0) for p in people)}
            for key, people in by_key.items()}


def reference_demographic_weights(mw: MetaWorld) -> dict[str, dict[str, int]]:
    weights: dict[str, dict[str, int]] = {"age": {}, "gender": {}, "country": {}, "city": {}}
    gender_code = {"female": "F", "male": "M", "unknown": "U"}
    for p in mw.people[: max(1, len(mw.people) // 3)]:
        age = p.age if p.age != "18-24" or p.index % 9 else "13-17"
        weights["age"][age] = weights["age"].get(age, 0) + 1
        weights["gender"][gender_code[p.gender]] = weights["gender"].get(gender_code[p.gender], 0) + 1
        weights["country"][p.country] = weights["country"].get(p.country, 0) + 1
        cities = CITIES[p.country]
        city = cities[p.index % len(cities)]
        weights["city"][city] = weights["city"].get(city, 0) + 1
    return weights


def all_days(mw: MetaWorld) -> list[date]:
    return [mw.first_day + timedelta(days=i) for i in range((mw.last_complete_day() - mw.first_day).days + 2)]


def test_people_are_drawn_as_person_by_person(mw: MetaWorld) -> None:
    expected = reference_people(mw.world)
    assert len(mw.people) == len(expected)
    assert [(p.index, p.age, p.gender, p.country, p.customer_id) for p in mw.people] == expected
    # The stream goes on where the person-by-person draw left it: the campaigns that follow are the same.
    rng = stable_rng(mw.world.seed, mw.world.scale.name, "meta")
    for _ in range(mw.world.scale.customers * 60 * 3):
        rng.random()
    assert mw.campaigns[1].stop - mw.campaigns[1].start + timedelta(days=1) == timedelta(days=rng.randint(14, 35))


def test_deliveries_are_drawn_as_person_by_person(mw: MetaWorld) -> None:
    compared = 0
    pools = {s.countries: [p.index for p in mw.people if p.country in s.countries] for s in mw.adsets}
    for ad in mw.ads:
        for d in all_days(mw):
            expected, got = reference_delivery(mw, pools, ad.id, d), mw.delivery(ad.id, d)
            if expected is None:
                assert got is None
                continue
            assert got is not None
            spend, impressions, clickers, links = expected
            assert (got.spend_cents, got.impressions, got.clickers, got.link_clickers) == (spend, impressions, clickers, links)
            assert list(got.impressions) == sorted(impressions)
            compared += 1
    assert compared > 1000


@pytest.mark.parametrize("dims", [[], ["age"], ["gender"], ["age", "gender"], ["country"]])
def test_report_cells_equal_the_per_person_sums_to_the_bit(mw: MetaWorld, dims: list[str]) -> None:
    days = all_days(mw)
    groups = [[a.id] for a in mw.ads[:6]] + [[a.id for s in c.adsets for a in s.ads] for c in mw.campaigns[:4]] + [[a.id for a in mw.ads]]
    buckets = [days[i:i + 1] for i in range(0, 120, 7)] + [days[i:i + 28] for i in range(0, len(days), 90)]
    for ad_ids in groups:
        for bucket in buckets:
            cells, reached, cell_of = mw.breakdown_cells(ad_ids, bucket, dims)
            assert cells == reference_cells(mw, ad_ids, bucket, dims)
            assert len(reached) == len(cell_of) == sum(c["reach"] for c in cells.values())


@pytest.mark.parametrize("dims", [[], ["age"], ["gender"], ["age", "gender"], ["country"]])
def test_the_index_serves_the_same_cells_and_places_each_touch_in_its_persons_cell(mw: MetaWorld, dims: list[str]) -> None:
    mw.index()
    days = all_days(mw)
    groups = [[a.id] for a in mw.ads[:6]] + [[a.id for a in s.ads] for s in mw.adsets[:4]] + \
        [[a.id for s in c.adsets for a in s.ads] for c in mw.campaigns[:4]] + [[a.id for a in mw.ads]]
    placed = 0
    for ad_ids in groups:
        for d in days[::3]:
            cells = mw.cells(ad_ids, [d], dims)
            assert cells == reference_cells(mw, ad_ids, [d], dims)
            _, reached, cell_of = mw.breakdown_cells(ad_ids, [d], dims)
            for t in (t for a in ad_ids for t in mw.touches_by_ad_day.get((a, d), [])):
                at = int(np.searchsorted(reached, t.person))
                assert reached[at] == t.person and mw.cell_index(t.person, dims) == cell_of[at]
                placed += 1
    assert placed > 10
    # A multi-day bucket (the 28-day reach, all_days) is computed on first use and then kept, the same.
    assert mw.cells([a.id for a in mw.ads], days[-28:], dims) == reference_cells(mw, [a.id for a in mw.ads], days[-28:], dims)


def test_paid_reach_and_follows_equal_the_union_of_the_days_deliveries(mw: MetaWorld) -> None:
    for d in all_days(mw)[::5]:
        assert mw.paid_reach(d) == mw.reach([a.id for a in mw.active_ads(d)], [d])


def test_follower_demographics_equal_the_person_by_person_count(mw: MetaWorld) -> None:
    expected = reference_demographic_weights(mw)
    got = mw.demographic_weights()
    assert got == expected and [list(v) for v in got.values()] == [list(v) for v in expected.values()]
    total = mw.followers_at("instagram", mw.now)
    assert mw.ig_follower_demographics(mw.now) == {k: _apportion(w, total) for k, w in expected.items()}


def test_the_pool_is_columns_that_index_as_people(mw: MetaWorld) -> None:
    people = mw.people
    assert people[-1] == people[len(people) - 1] and people[0].customer_id is not None
    assert people[len(people.customer_ids)].customer_id is None
    assert [p.index for p in people[3:6]] == [3, 4, 5]
    with pytest.raises(IndexError):
        people[len(people)]
