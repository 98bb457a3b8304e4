"""The four Klaviyo tiles, built by dbt from a real extraction of the small world, against ground truth computed
here in Python from the world objects (not from the models)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from pipelines.common.storage import raw_db_path, warehouse_path
from pipelines.klaviyo import sync
from pipelines.klaviyo.sync import lifecycle_thresholds
from pipelines.transform import publish, run_dbt
from tests.conftest import point_at_sandbox

pytestmark = pytest.mark.slow
WINDOW = timedelta(hours=120)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, small_world_build: Any) -> Iterator[tuple[Any, dict[str, list[dict[str, Any]]]]]:
    from sandbox.server import SandboxServer

    data = tmp_path_factory.mktemp("klaviyo-dbt")
    with pytest.MonkeyPatch.context() as mp, SandboxServer(scale="small", latency="zero") as server:
        mp.setenv("OPSDATA_DATA_DIR", str(data))
        point_at_sandbox(mp, server.url)
        mp.setenv("OPSDATA_FAST_RETRIES", "1")
        mp.setenv("KLAVIYO_RATE_LIMIT_SCALE", "20")
        server.state.provider_store("klaviyo")["rate_scale"] = 20.0
        # Full loads of this same (unadvanced) world, built by dbt (KLAVIYO_SELECT in tests/dbt/conftest.py)
        small_world_build.copy_into(data)
        as_of = server.world.now.date().isoformat()
        assert small_world_build.as_of == as_of
        con = duckdb.connect(str(warehouse_path()), read_only=True)
        tiles = {}
        for name in ("klaviyo_campaign_performance", "klaviyo_segment_health", "klaviyo_lifecycle_stages", "klaviyo_email_attribution"):
            cur = con.execute(f"select * from tiles.{name}")
            cols = [d[0] for d in cur.description]
            tiles[name] = [dict(zip(cols, row, strict=False)) for row in cur.fetchall()]
        con.close()
        # The reverse sync, from the real published dim_customers, then its log through dbt.
        publish()
        result = sync.run_sync(as_of=server.world.now.date(), sleep=lambda _s: None)
        run_dbt("build", "--select", "stg_klaviyo__profile_sync_log", as_of_date=as_of, target_path=str(data / "target"))
        con = duckdb.connect(str(warehouse_path()), read_only=True)
        con.execute(f"attach '{raw_db_path('klaviyo')}' as raw_klaviyo (read_only)")  # the staging view reads it
        tiles["sync_log"] = [{"status": r[0], "n": r[1]} for r in con.execute(
            "select sync_status, count(*) from staging.stg_klaviyo__profile_sync_log group by 1").fetchall()]
        con.close()
        tiles["sync_result"] = [{"sent": result.sent, "failed": result.failed}]
        yield server.world, tiles


def cents(value: Any) -> int:
    return int(round(Decimal(value) * 100))


def touches(world: Any) -> list[Any]:
    kw = world.extension("klaviyo")
    return [e for e in kw.visible_events(world.now) if e.metric == "Clicked Email" or (e.metric == "Opened Email" and not e.machine_open)]


def live_orders(world: Any) -> list[Any]:
    return [o for o in world.visible_orders() if o.cancelled_at is None or o.cancelled_at > world.now]


def our_attribution(world: Any) -> dict[int, str]:
    """order id -> message id of the last human open/click of the same profile within 120 h before the order."""
    kw = world.extension("klaviyo")
    by_email: dict[str, list[Any]] = defaultdict(list)
    for e in touches(world):
        by_email[kw.profiles_by_id[e.profile_id].email].append(e)
    result = {}
    for o in live_orders(world):
        candidates = [t for t in by_email.get(o.email, []) if o.created_at - WINDOW <= t.datetime <= o.created_at]
        if candidates:
            result[o.id] = max(candidates, key=lambda t: (t.datetime, t.id)).message_id
    return result


def source_of(world: Any, message_id: str) -> tuple[str, str]:
    msg = world.extension("klaviyo").messages[message_id]
    return ("campaign", msg.campaign_id) if msg.campaign_id else ("flow", msg.flow_id)


def test_all_four_tiles_are_non_empty(built: Any) -> None:
    _, tiles = built
    for name, rows in tiles.items():
        assert rows, name


def test_sync_from_published_dim_customers_lands_in_its_log(built: Any) -> None:
    world, tiles = built
    customers = len(world.visible_customers())
    assert tiles["sync_result"] == [{"sent": customers, "failed": 0}]
    assert tiles["sync_log"] == [{"status": "synced", "n": customers}]


def test_campaign_performance_matches_the_world(built: Any) -> None:
    world, tiles = built
    kw = world.extension("klaviyo")
    attribution = our_attribution(world)
    orders = {o.id: o for o in live_orders(world)}
    rows = {r["campaign_id"]: r for r in tiles["klaviyo_campaign_performance"]}
    sent = [c for c in kw.campaigns if c.send_time <= world.now]
    assert set(rows) == {c.id for c in sent}
    events = kw.visible_events(world.now)
    for c in sent:
        mine = [e for e in events if e.message_id == c.message.id]

        def who(metric: str, human: bool = False, mine: list[Any] = mine) -> int:
            return len({e.profile_id for e in mine if e.metric == metric and not (human and e.machine_open)})

        row = rows[c.id]
        delivered = who("Received Email")
        assert row["send_date"] == c.send_time.date()
        assert row["delivered"] == delivered
        assert row["bounces"] == who("Bounced Email")
        assert row["recipients"] == len({e.profile_id for e in mine if e.metric in ("Received Email", "Bounced Email")})
        assert row["unique_opens"] == who("Opened Email", human=True)
        assert row["unique_opens_incl_machine"] == who("Opened Email")
        assert row["unique_clicks"] == who("Clicked Email")
        assert row["unsubscribes"] == who("Unsubscribed from Email Marketing")
        if delivered:
            assert float(row["open_rate"]) == pytest.approx(who("Opened Email", human=True) / delivered, abs=1e-4)
            assert float(row["click_rate"]) == pytest.approx(who("Clicked Email") / delivered, abs=1e-4)
        won = [oid for oid, mid in attribution.items() if mid == c.message.id]
        assert row["attributed_orders"] == len(won)
        assert cents(row["attributed_revenue"]) == sum(orders[oid].total_cents for oid in won)


def test_email_attribution_matches_the_world_and_never_double_counts(built: Any) -> None:
    world, tiles = built
    kw = world.extension("klaviyo")
    attribution = our_attribution(world)
    orders = {o.id: o for o in live_orders(world)}
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for oid, mid in attribution.items():
        expected[source_of(world, mid)][0] += 1
        expected[source_of(world, mid)][1] += orders[oid].total_cents
    klaviyo: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for o in world.visible_orders():
        key = source_of(world, kw.klaviyo_attribution[o.id][0]) if o.id in kw.klaviyo_attribution else ("unattributed", "unattributed")
        klaviyo[key][0] += 1
        klaviyo[key][1] += o.total_cents
    rows = {(r["source_type"], r["source_id"]): r for r in tiles["klaviyo_email_attribution"]}
    for key, (n, revenue) in expected.items():
        assert rows[key]["attributed_orders"] == n and cents(rows[key]["attributed_revenue"]) == revenue, key
    for key, (n, revenue) in klaviyo.items():
        assert rows[key]["klaviyo_attributed_orders"] == n and cents(rows[key]["klaviyo_attributed_revenue"]) == revenue, key
    unattributed = rows[("unattributed", "unattributed")]
    assert unattributed["attributed_orders"] == len(orders) - len(attribution)
    attributed = [r for k, r in rows.items() if k[0] != "unattributed"]
    assert sum(r["attributed_orders"] for r in attributed) == len(attribution)  # each order once
    assert sum(cents(r["attributed_revenue"]) for r in attributed) <= sum(o.total_cents for o in orders.values())
    # Both campaigns and flows earn orders, and the two models disagree somewhere (machine opens).
    assert {k[0] for k, r in rows.items() if r["attributed_orders"]} >= {"campaign", "flow"}
    assert any(r["attributed_orders"] != r["klaviyo_attributed_orders"] for r in rows.values())


def test_lifecycle_stages_match_the_world(built: Any) -> None:
    world, tiles = built
    kw = world.extension("klaviyo")
    as_of = world.now.date()
    th = lifecycle_thresholds()
    engaged_emails = {kw.profiles_by_id[e.profile_id].email for e in touches(world) if as_of - timedelta(days=30) <= e.datetime.date() <= as_of}
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for c in world.visible_customers():
        orders = [o for o in live_orders(world) if o.customer_id == c.id]
        if not orders:
            stage = "prospect"
        else:
            days = (as_of - max(o.created_at for o in orders).date()).days
            stage = "lapsed" if days > th["lapsed"] else "at_risk" if days > th["at_risk"] else "new" if len(orders) == 1 else "repeat"
        e = expected[stage]
        e[0] += 1
        e[1] += c.email in engaged_emails
        e[2] += sum(o.total_cents - o.refunded_cents(world.now) for o in orders)
        e[3] += sum(o.total_cents - o.refunded_cents(world.now) for o in orders if as_of - timedelta(days=90) <= o.created_at.date() <= as_of)
    rows = {r["lifecycle_stage"]: r for r in tiles["klaviyo_lifecycle_stages"]}
    assert set(rows) == {"prospect", "new", "repeat", "at_risk", "lapsed"}
    for stage, (n, engaged, lifetime, recent) in expected.items():
        row = rows[stage]
        assert (row["customers"], row["engaged_30d_customers"]) == (n, engaged), stage
        assert cents(row["lifetime_revenue"]) == lifetime and cents(row["revenue_last_90d"]) == recent, stage
    assert sum(r["customers"] for r in rows.values()) == len(world.visible_customers())
    # The 90-day window includes its first day, as the at-risk threshold does: a 'new' customer's one order is always
    # inside it, so their 90-day revenue is their lifetime revenue (it once came out lower, which cannot be).
    assert rows["new"]["revenue_last_90d"] == rows["new"]["lifetime_revenue"]
    assert all(r["revenue_last_90d"] <= r["lifetime_revenue"] for r in rows.values())


def test_segment_health_matches_the_world(built: Any) -> None:
    world, tiles = built
    kw = world.extension("klaviyo")
    as_of: date = world.now.date()
    touch_dates: dict[str, set[date]] = defaultdict(set)
    for e in touches(world):
        touch_dates[e.profile_id].add(e.datetime.date())
    rows = {(r["group_id"], r["metric_date"]): r for r in tiles["klaviyo_segment_health"]}
    assert len(rows) == len(kw.groups) * 90
    for g in kw.groups:
        members = [(pid, t.date()) for pid, t in g.members if t <= world.now and kw.profiles_by_id[pid].created <= world.now]
        for back in range(90):
            d = as_of - timedelta(days=back)
            current = [pid for pid, joined in members if joined <= d]
            row = rows[(g.id, d)]
            assert row["profile_count"] == len(current), (g.name, d)
            assert row["new_members"] == sum(1 for _, joined in members if joined == d)
            assert row["engaged_30d_profiles"] == sum(1 for pid in current if any(d - timedelta(days=30) <= t <= d for t in touch_dates[pid]))
            assert row["engaged_90d_profiles"] == sum(1 for pid in current if any(d - timedelta(days=90) <= t <= d for t in touch_dates[pid]))
            suppressed = 0
            for pid in current:
                stamps = [t for t, _ in kw.profiles_by_id[pid].suppressions if t <= world.now]
                suppressed += bool(stamps) and min(stamps).date() <= d
            assert row["suppressed_profiles"] == suppressed, (g.name, d)
    latest = [r for (gid, d), r in rows.items() if d == as_of]
    assert sum(r["profile_count"] for r in latest) > 0 and any(r["engaged_30d_profiles"] for r in latest)
