"""The four Zendesk tiles, built by dbt over real pipeline loads of the small world (a full load, then an incremental
one ten and a half days later, across Black Friday's surge), equal the values computed independently from the world;
the SLA tile's breaches are the simulator's own SLA state, event for event."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from typing import Any

import duckdb
import pytest

from pipelines.common.storage import raw_db_path, warehouse_path
from pipelines.run import run_provider
from pipelines.transform import run_dbt
from tests.conftest import point_at_sandbox
from tests.dbt.zendesk import ground_truth as gt

TILES = ("zendesk_support_overview", "zendesk_sla_performance", "zendesk_agent_metrics", "zendesk_csat")
SCALE = "60"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, small_world_extractions: Any) -> Iterator[dict[str, Any]]:
    from sandbox.server import SandboxServer

    mp = pytest.MonkeyPatch()
    data = tmp_path_factory.mktemp("zendesk-tiles")
    mp.setenv("OPSDATA_DATA_DIR", str(data))
    mp.setenv("OPSDATA_FAST_RETRIES", "1")
    mp.setenv("ZENDESK_RATE_LIMIT_SCALE", SCALE)
    with SandboxServer(scale="small", latency="zero", options={"zendesk_rate_scale": SCALE}) as server:
        point_at_sandbox(mp, server.url)
        small_world_extractions.copy_into(data, "shopify", "zendesk")  # full loads of this world before the advance
        server.world.advance(26.5)
        run_provider("shopify")
        run_provider("zendesk")
        as_of = gt.as_of_date(server.world)
        target = str(data / "dbt-target")
        run_dbt("build", "--select", " ".join(f"+{t}" for t in TILES), "--exclude", "source:*", "--indirect-selection", "cautious",
                as_of_date=as_of.isoformat(), target_path=target)
        yield {"server": server, "world": server.world, "as_of": as_of}
    mp.undo()


def tile(name: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(warehouse_path()), read_only=True) as con:
        cur = con.execute(f"select * from tiles.{name}")
        columns = [d[0] for d in cur.description]
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def same(actual: Any, expected: Any) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    if isinstance(expected, float) or isinstance(actual, float):
        return math.isclose(float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-9)
    return bool(actual == expected)


def check(rows: list[dict[str, Any]], truth: dict[Any, dict[str, Any]], key: Any) -> None:
    found = {key(r): r for r in rows}
    assert set(found) == set(truth)
    for k, expected in truth.items():
        for column, value in expected.items():
            assert same(found[k][column], value), (k, column, found[k][column], value)


def test_the_world_exercises_every_case(built: dict[str, Any]) -> None:
    """Not a tile check: the loaded world must contain what the definitions are about, or equality proves little."""
    zw = built["world"].extension("zendesk")
    cut = gt.export_at(built["world"])
    visible = [t for t in zw.tickets if t.created_at <= cut]
    assert {"deleted", "spam", "merged"} <= {t.fate for t in visible if t.excluded(cut)}
    states = {i.state(cut) for i in gt.sla_targets(built["world"])}
    assert states == {"breached", "achieved", "active"}
    assert any(gt._reopens(t, cut) for t in visible)
    statuses = {gt._status_before(t, cut, cut) for t in visible}
    assert "closed" in statuses and statuses & gt.UNSOLVED


def test_support_overview_equals_the_world(built: dict[str, Any]) -> None:
    rows = tile("zendesk_support_overview")
    check(rows, gt.overview(built["world"]), lambda r: r["date_day"])
    assert sum(r["tickets_created"] for r in rows) == len(gt.counted_tickets(built["world"]))


def test_sla_performance_equals_the_simulators_sla_state(built: dict[str, Any]) -> None:
    rows = tile("zendesk_sla_performance")
    check(rows, gt.sla_performance(built["world"]), lambda r: (r["date_day"], r["sla_policy_id"], r["sla_metric"]))
    assert sum(r["targets_breached"] for r in rows) == len(gt.sla_breaches(built["world"]))


def test_breach_events_loaded_are_the_simulators_breaches_event_for_event(built: dict[str, Any]) -> None:
    with duckdb.connect(str(warehouse_path()), read_only=True) as con:
        loaded = con.execute(
            "select ticket_id, metric, instance_id, breached_at from marts.fct_zendesk__sla_targets where breached_at is not null"
        ).fetchall()
    assert {(t, m, i, b) for t, m, i, b in loaded} == gt.sla_breaches(built["world"])
    # The raw export also carries breaches on tickets deleted, merged or marked as spam: never counted.
    with duckdb.connect(str(raw_db_path("zendesk")), read_only=True) as con:
        raw = con.execute("select count(*) from raw_zendesk.ticket_metric_events where type = 'breach'").fetchone()
    assert raw is not None and raw[0] >= len(loaded)


def test_agent_metrics_equal_the_world(built: dict[str, Any]) -> None:
    rows = tile("zendesk_agent_metrics")
    check(rows, gt.agent_metrics(built["world"]), lambda r: (r["week_start"], r["agent_id"]))


def test_csat_equals_the_world_and_keeps_the_scales_apart(built: dict[str, Any]) -> None:
    rows = tile("zendesk_csat")
    check(rows, gt.csat(built["world"]), lambda r: (r["period"], r["period_start"]))
    # Offered-only surveys never enter CSAT %: it is good / (good + bad), not good / offered.
    week = next(r for r in rows if r["period"] == "week" and r["good"] and r["surveys_offered"] > r["surveys_answered"])
    assert week["csat_percent"] == pytest.approx(week["good"] / (week["good"] + week["bad"]))
    assert any(r["rating_5pt_responses"] for r in rows) and any(r["surveys_offered"] for r in rows)


def test_as_of_is_the_world_export_day(built: dict[str, Any]) -> None:
    assert built["as_of"] == date(2026, 11, 27)


def test_support_section_of_the_digest_reads_the_published_tiles(built: dict[str, Any]) -> None:
    from datetime import timedelta

    from notifications.digest import Period, build_digest
    from notifications.tiles import TileReader
    from pipelines.transform import publish
    from pipelines.zendesk.digest import zendesk_section

    publish()
    world = built["world"]
    overview, sla = gt.overview(world), gt.sla_performance(world)
    for kind in ("daily", "weekly"):
        period = Period.for_kind(kind, built["as_of"] - timedelta(days=1))
        days = [period.start + timedelta(days=n) for n in range(period.days)]
        section = zendesk_section(TileReader(), period)
        assert section is not None and section.title == "Support"
        text = "\n".join(section.lines)
        created = sum(overview[d]["tickets_created"] for d in days)
        solved = sum(overview[d]["tickets_solved"] for d in days)
        assert f"*Tickets* {created} new" in text and f"{solved} solved" in text
        assert f"Open backlog {overview[period.end]['open_backlog']}" in text
        breached = sum(r["targets_breached"] for (d, _p, _m), r in sla.items() if d in days)
        resolved = breached + sum(r["targets_achieved"] for (d, _p, _m), r in sla.items() if d in days)
        if resolved:
            assert f"SLA breached {breached} of {resolved} targets" in text
        assert any(f"{breached} Zendesk SLA breach" in a for a in section.attention) == (breached > 0)
    digest = build_digest("daily", built["as_of"] - timedelta(days=1), TileReader())
    assert "Support" in [s.title for s in digest.sections]
