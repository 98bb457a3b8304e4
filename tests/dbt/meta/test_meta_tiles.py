"""The Meta tiles, built by dbt from a real extraction of the small world, against ground truth computed here from the
Meta world's objects (`sandbox/meta/world.py`), never from the models or the loaded rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from pipelines.common.storage import warehouse_path
from sandbox.meta.world import ATTRIBUTION_SETTING, days_between

pytestmark = pytest.mark.slow
TILES = ("social_overview", "social_post_performance", "ads_campaign_roi", "ads_blended_daily", "social_audience_demographics",
         "meta_token_status")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, small_world_build: Any) -> Iterator[tuple[Any, dict[str, list[dict[str, Any]]]]]:
    from sandbox.server import SandboxServer

    data = tmp_path_factory.mktemp("meta-dbt")
    with pytest.MonkeyPatch.context() as mp, SandboxServer(scale="small", latency="zero") as server:
        mp.setenv("OPSDATA_DATA_DIR", str(data))
        # Full loads of this same (unadvanced) world, built by dbt (META_SELECT in tests/dbt/conftest.py)
        small_world_build.copy_into(data)
        assert small_world_build.as_of == server.world.now.date().isoformat()
        con = duckdb.connect(str(warehouse_path()), read_only=True)
        tiles = {}
        for name in TILES:
            cur = con.execute(f"select * from tiles.{name}")
            cols = [d[0] for d in cur.description]
            tiles[name] = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        con.close()
        yield server.world, tiles


def close(tile: Decimal | None, truth: Decimal | None) -> bool:
    """A 4-decimal tile ratio against the exact one (the tile rounds half up)."""
    if tile is None or truth is None:
        return tile is None and truth is None
    return abs(Decimal(tile) - Decimal(truth)) <= Decimal("0.00005")


def test_ads_campaign_roi_equals_ads_manager_for_the_same_attribution_setting(built) -> None:  # type: ignore[no-untyped-def]
    world, tiles = built
    mw = world.extension("meta")
    rows = tiles["ads_campaign_roi"]
    assert rows and {r["attribution_setting"] for r in rows} == {ATTRIBUTION_SETTING}
    by_campaign: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_campaign[r["campaign_id"]].append(r)
    checked_purchases = 0
    for campaign_id, days in by_campaign.items():
        first, last = min(r["metric_date"] for r in days), max(r["metric_date"] for r in days)
        truth = mw.ads_manager(campaign_id, first, last, world.now, ATTRIBUTION_SETTING)
        spend = sum(r["spend"] for r in days)
        value = sum(r["purchase_value"] for r in days)
        assert spend == Decimal(truth["spend_cents"]) / 100, campaign_id
        assert sum(r["purchases"] for r in days) == truth["purchases"]
        assert value == Decimal(truth["purchase_value_cents"]) / 100
        if spend:
            assert close(value / spend, Decimal(truth["roas"]))
        checked_purchases += truth["purchases"]
        for r in days[:40]:  # each day's ROAS and reach are Ads Manager's for that day
            day = mw.ads_manager(campaign_id, r["metric_date"], r["metric_date"], world.now)
            assert r["reach"] == day["reach"]
            assert close(r["roas"], Decimal(day["purchase_value_cents"]) / Decimal(day["spend_cents"]) if day["spend_cents"] else None)
    assert checked_purchases > 10


def test_campaign_day_reach_is_not_a_sum_of_ads(built) -> None:  # type: ignore[no-untyped-def]
    world, tiles = built
    mw = world.extension("meta")
    overlapping = 0
    for r in tiles["ads_campaign_roi"][:200]:
        ads = [a.id for a in mw.ads if a.campaign_id == r["campaign_id"]]
        summed = sum(mw.reach([a], [r["metric_date"]]) for a in ads)
        assert r["reach"] == mw.reach(ads, [r["metric_date"]]) <= summed
        overlapping += r["reach"] < summed
    assert overlapping > 0, "the world should have people reached by two ads of a campaign on one day"


def test_social_overview_equals_the_accounts_daily_figures(built) -> None:  # type: ignore[no-untyped-def]
    world, tiles = built
    mw = world.extension("meta")
    rows = tiles["social_overview"]
    assert {r["platform"] for r in rows} == {"facebook", "instagram"}
    for r in rows:
        d = r["metric_date"]
        posts = len([p for p in mw.posts if p.platform == r["platform"] and not p.is_story and p.created.date() == d])
        if r["platform"] == "facebook":
            truth = mw.page_day(d)
            expected = (truth["page_follows"], truth["page_daily_follows_unique"] - truth["page_daily_unfollows_unique"],
                        truth["page_post_engagements"], truth["page_total_media_view_unique"], truth["page_media_view"])
        else:
            truth = mw.ig_day(d)
            expected = (mw.followers_end_of("instagram", d), truth["follows"] - truth["unfollows"], truth["total_interactions"],
                        truth["reach"], truth["views"])
        assert (r["followers"], r["net_follows"], r["engagements"], r["reach"], r["views"]) == expected, (r["platform"], d)
        assert r["posts"] == posts
        assert close(r["engagement_rate"], Decimal(r["engagements"]) / r["reach"] if r["reach"] else None)
    last = max(r["metric_date"] for r in rows)
    assert last == mw.last_complete_day()


def test_post_performance_has_every_post_with_its_latest_values(built) -> None:  # type: ignore[no-untyped-def]
    world, tiles = built
    mw = world.extension("meta")
    rows = {r["post_id"]: r for r in tiles["social_post_performance"]}
    posts = [p for p in mw.posts if p.created <= world.now and (not p.is_story or p.expires_at() > world.now)]  # type: ignore[operator]
    assert set(rows) == {p.id for p in posts}
    for p in posts:
        r = rows[p.id]
        engagements = (p.value("reactions", world.now) + p.value("comments", world.now) + p.value("shares", world.now)
                       if p.platform == "facebook" else p.value("total_interactions", world.now))
        assert (r["reach"], r["views"], r["engagements"]) == (p.value("reach", world.now), p.value("views", world.now), engagements)
        assert r["values_as_of"] is not None and r["post_age_hours_at_read"] is not None


def test_audience_demographics_are_shares_that_add_up_and_match_the_world(built) -> None:  # type: ignore[no-untyped-def]
    world, tiles = built
    mw = world.extension("meta")
    rows = tiles["social_audience_demographics"]
    totals: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        totals[(r["platform"], r["audience"], r["breakdown"])] += r["share"]
    assert set(totals) >= {("instagram", "followers", b) for b in ("age", "gender", "city", "country")} | {
        ("meta_ads", "ad_reach", "age_gender"), ("meta_ads", "ad_reach", "country")}
    assert all(abs(t - 1) < Decimal("0.0001") for t in totals.values())
    followers = mw.ig_follower_demographics(world.now)
    for r in rows:
        if r["audience"] == "followers":
            assert r["people"] == followers[r["breakdown"]][r["segment"]]
    last = mw.last_complete_day()
    days = list(days_between(last - timedelta(days=27), last))
    ads = [a.id for a in mw.ads]
    for r in (r for r in rows if r["audience"] == "ad_reach"):
        if r["breakdown"] == "country":
            assert r["people"] == mw.reach(ads, days, lambda p, c=r["segment"]: p.country == c)
        elif r["breakdown"] == "age_gender":
            age, gender = r["segment"].rsplit(" ", 1)
            assert r["people"] == mw.reach(ads, days, lambda p, a=age, g=gender: p.age == a and p.gender == g)
            assert (r["period_start"], r["period_end"]) == (days[0], days[-1])


def test_blended_view_puts_meta_spend_beside_shopify_sales(built) -> None:  # type: ignore[no-untyped-def]
    world, tiles = built
    mw = world.extension("meta")
    for r in tiles["ads_blended_daily"][:60]:
        spend = sum(dv.spend_cents for a in mw.ads if (dv := mw.delivery(a.id, r["metric_date"])) is not None)
        assert r["ad_spend"] == Decimal(spend) / 100
        if r["ad_spend"]:
            assert close(r["blended_roas"], r["shopify_net_sales"] / r["ad_spend"])
    assert any(r["shopify_net_sales"] > 0 for r in tiles["ads_blended_daily"])


def test_token_status_tile(built) -> None:  # type: ignore[no-untyped-def]
    _world, tiles = built
    assert tiles["meta_token_status"] == [
        {"token_type": "USER", "is_valid": True, "expires_at": None, "days_left": None, "checked_at": tiles["meta_token_status"][0]["checked_at"],
         "warning": None}]


def test_digest_section_reads_the_published_tiles(built) -> None:  # type: ignore[no-untyped-def]
    from notifications.digest import Period
    from notifications.tiles import TileReader
    from pipelines.meta.digest import meta_section
    from pipelines.transform import publish

    world, tiles = built
    mw = world.extension("meta")
    publish()
    last = mw.last_complete_day()
    with TileReader().snapshot() as reader:
        section = meta_section(reader, Period.for_kind("weekly", last))
    assert section is not None and section.title == "Social & ads (Meta)"
    text = "\n".join(section.lines)
    week = [r for r in tiles["ads_campaign_roi"] if last - timedelta(days=6) <= r["metric_date"] <= last]
    spend = sum(r["spend"] for r in week)
    assert f"${spend:,.2f}" in text and "ROAS" in text and "7d click 1d view" in text
    ig = next(r for r in tiles["social_overview"] if r["platform"] == "instagram" and r["metric_date"] == last)
    assert f"Instagram followers {ig['followers']:,}" in text
    assert section.attention == []  # the sandbox's system-user token never expires
