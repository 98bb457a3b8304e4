"""tiles.business_overview, built by dbt over real extractions of the small world, against values computed here from
the world's own objects (Shopify orders, Klaviyo touches, Stripe subscriptions, disputes and payouts, Zendesk tickets,
SLA targets and ratings), for every reporting period; the Meta figures are present but unavailable, with the reason;
dbt's source freshness is published beside the tiles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from pipelines.common.storage import tiles_path
from pipelines.run import run_provider
from pipelines.transform import publish, run_dbt, source_freshness
from tests.conftest import point_at_sandbox
from tests.dbt.klaviyo.test_klaviyo_tiles import live_orders, our_attribution
from tests.dbt.shopify.ground_truth import expected_sales_daily
from tests.dbt.stripe import ground_truth as gt

pytestmark = pytest.mark.slow
PERIODS = (1, 7, 30)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[tuple[str, int, str | None], dict[str, Any]], list[dict[str, Any]]]]:
    from sandbox.server import SandboxServer

    data = tmp_path_factory.mktemp("overview")
    with pytest.MonkeyPatch.context() as mp, SandboxServer(scale="small", latency="zero") as server:
        mp.setenv("OPSDATA_DATA_DIR", str(data))
        point_at_sandbox(mp, server.url)
        mp.setenv("OPSDATA_FAST_RETRIES", "1")
        mp.setenv("STRIPE_RATE_LIMIT_PER_SECOND", "1000")
        mp.setenv("KLAVIYO_RATE_LIMIT_SCALE", "20")
        server.state.provider_store("klaviyo")["rate_scale"] = 20.0
        mp.setenv("ZENDESK_RATE_LIMIT_SCALE", "60")
        server.state.options["zendesk_rate_scale"] = 60
        for provider in ("shopify", "stripe", "klaviyo", "zendesk"):
            run_provider(provider)
        as_of = server.world.now.date().isoformat()
        run_dbt("build", "--select", "+business_overview", "--indirect-selection", "cautious", as_of_date=as_of, target_path=str(data / "target"))
        assert source_freshness(as_of_date=as_of) is not None
        publish()
        with duckdb.connect(str(tiles_path()), read_only=True) as con:
            cur = con.execute("select * from tiles.business_overview")
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            cur = con.execute("select * from ops.source_freshness")
            cols = [d[0] for d in cur.description]
            freshness = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        yield server.world, {(r["metric"], r["period_days"], r["currency"]): r for r in rows}, freshness


def period(as_of: date, days: int) -> tuple[date, date, date, date]:
    end = as_of - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    return start, end, start - timedelta(days=days), start - timedelta(days=1)


def shopify_truth(world: Any, days: int) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    daily = expected_sales_daily(world)
    start, end, prev_start, prev_end = period(world.now.date(), days)
    orders = [o for o in live_orders(world)]
    first: dict[int, date] = {}
    for o in sorted(orders, key=lambda o: o.created_at):
        first.setdefault(o.customer_id, o.created_at.date())
    attribution = our_attribution(world)

    def over(lo: date, hi: date) -> dict[str, Decimal]:
        def total(key: str) -> int:
            return sum(v[key] for d, v in daily.items() if lo <= d <= hi)

        mine = [o for o in orders if lo <= o.created_at.date() <= hi]
        n = len(mine)
        new = {o.customer_id for o in mine if lo <= first[o.customer_id] <= hi}
        returning = {o.customer_id for o in mine if first[o.customer_id] < lo}
        paid = sum(o.total_cents for o in mine)
        attributed = sum(o.total_cents for o in mine if o.id in attribution)
        return {
            "net_sales": Decimal(total("net_sales")) / 100,
            "orders": Decimal(n),
            "average_order_value": Decimal(total("order_value")) / 100 / n if n else None,  # type: ignore[dict-item]
            "new_customers": Decimal(len(new)),
            "returning_customers": Decimal(len(returning)),
            "email_attributed_revenue_share": Decimal(attributed) / paid if paid else None,  # type: ignore[dict-item]
        }

    now, before = over(start, end), over(prev_start, prev_end)
    return {k: (now[k], before[k]) for k in now}


def close(actual: Decimal | None, expected: Decimal | None) -> bool:
    if actual is None or expected is None:
        return actual is expected
    return abs(Decimal(actual) - Decimal(expected)) <= Decimal("0.0001")


@pytest.mark.parametrize("days", PERIODS)
def test_shopify_and_klaviyo_figures_match_the_world(built: Any, days: int) -> None:
    world, rows, _ = built
    truth = shopify_truth(world, days)
    assert truth["orders"][0] > 0 or days == 1
    for metric, (value, previous) in truth.items():
        row = rows[(metric, days, "USD")]
        assert row["is_available"] and row["unavailable_reason"] is None, metric
        assert close(row["value"], value), (metric, days, row["value"], value)
        assert close(row["previous_value"], previous), (metric, days, row["previous_value"], previous)
        start, end, prev_start, prev_end = period(world.now.date(), days)
        assert (row["period_start"], row["period_end"], row["previous_start"], row["previous_end"]) == (start, end, prev_start, prev_end)


def test_stripe_figures_match_the_world(built: Any) -> None:
    world, rows, _ = built
    sw = world.extension("stripe")
    as_of = gt.as_of_date(sw)
    metrics = gt.subscription_metrics(sw, as_of)
    for currency in {c for _, c in metrics}:
        months = sorted(m for m, c in metrics if c == currency)
        latest, prior = metrics[(months[-1], currency)], metrics[(months[-2], currency)]
        row = rows[("mrr", 30, currency.upper())]
        assert row["value"].quantize(Decimal("0.01")) == gt.major(latest["mrr"], currency), currency
        assert row["previous_value"].quantize(Decimal("0.01")) == gt.major(prior["mrr"], currency), currency
    disputes = gt.disputes(sw, as_of)
    payouts = gt.payouts(sw, as_of)
    for currency in {d["currency"] for d in disputes.values() if d["is_open"]}:
        mine = [d for d in disputes.values() if d["is_open"] and d["currency"] == currency]
        row = rows[("open_disputes", 7, currency.upper())]
        assert row["value"] == len(mine) and row["previous_value"] is None
        assert rows[("open_disputes_amount", 7, currency.upper())]["value"] == sum(d["amount"] for d in mine)
    upcoming = [p for p in payouts.values() if p["is_upcoming"]]
    assert upcoming
    for currency in {p["currency"] for p in upcoming}:
        mine = [p for p in upcoming if p["currency"] == currency]
        row = rows[("upcoming_payouts", 7, currency.upper())]
        assert row["value"] == sum(p["amount"] for p in mine)
        assert row["detail"] == f"next arrives {min(p['arrival_date'] for p in mine):%Y-%m-%d}"


@pytest.mark.parametrize("days", PERIODS)
def test_zendesk_figures_match_the_world(built: Any, days: int) -> None:
    from tests.dbt.zendesk import ground_truth as zgt

    world, rows, _ = built
    overview, sla, csat = zgt.overview(world), zgt.sla_performance(world), zgt.csat(world)
    start, end, prev_start, prev_end = period(world.now.date(), days)

    def between(a: date, b: date) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        span = [a + timedelta(days=n) for n in range((b - a).days + 1)]
        tickets = sum(overview[d]["tickets_created"] for d in span if d in overview)
        orders = sum(overview[d]["shopify_orders"] for d in span if d in overview)
        breached = sum(r["targets_breached"] for (d, _p, _m), r in sla.items() if a <= d <= b)
        measured = breached + sum(r["targets_achieved"] for (d, _p, _m), r in sla.items() if a <= d <= b)
        good = sum(r["good"] for (kind, d), r in csat.items() if kind == "day" and a <= d <= b)
        rated = good + sum(r["bad"] for (kind, d), r in csat.items() if kind == "day" and a <= d <= b)
        return (Decimal(100 * tickets) / orders if orders else None, Decimal(breached) / measured if measured else None,
                Decimal(good) / rated if rated else None)

    for i, metric in enumerate(("support_tickets_per_100_orders", "sla_breach_rate", "csat")):
        (row,) = [r for (m, d, _), r in rows.items() if m == metric and d == days]
        assert row["provider"] == "zendesk"
        # is_available says Zendesk's tiles are built; a period with nothing to divide by is available with value NULL
        assert row["is_available"] and row["unavailable_reason"] is None, (metric, days, row["unavailable_reason"])
        assert close(row["value"], between(start, end)[i]), (metric, days, row["value"], between(start, end)[i])
        assert close(row["previous_value"], between(prev_start, prev_end)[i]), (metric, days)
    assert any(r["value"] is not None for (m, _d, _c), r in rows.items() if m == "sla_breach_rate")


def test_meta_figures_are_rows_with_a_reason(built: Any) -> None:
    _, rows, _ = built
    for metric, provider, label in (("ad_spend", "meta", "Meta Ads"), ("blended_roas", "meta", "Meta Ads"),
                                    ("new_customer_acquisition_cost", "meta", "Meta Ads")):
        for days in PERIODS:
            (row,) = [r for (m, d, _), r in rows.items() if m == metric and d == days]
            assert row["provider"] == provider and row["value"] is None and not row["is_available"]
            assert row["unavailable_reason"].startswith(f"{label} is not set up yet"), row["unavailable_reason"]


def test_money_is_never_summed_across_currencies(built: Any) -> None:
    _, rows, _ = built
    money = [r for r in rows.values() if r["unit"] == "money"]
    assert all(r["currency"] is not None for r in money)
    assert {r["currency"] for r in money if r["metric"] == "mrr"} >= {"USD", "EUR"}


def test_dbt_source_freshness_is_published_per_provider(built: Any) -> None:
    _, _, freshness = built
    by_provider: dict[str, list[dict[str, Any]]] = {}
    for r in freshness:
        by_provider.setdefault(r["provider"], []).append(r)
    assert set(by_provider) == {"shopify", "stripe", "klaviyo", "zendesk"}
    for provider, tables in by_provider.items():
        assert all(t["status"] == "pass" for t in tables), [(t["source_table"], t["status"]) for t in tables]
        loaded = max(t["max_loaded_at"] for t in tables)
        assert isinstance(loaded, datetime) and loaded.tzinfo is not None
        assert all(t["warn_after"] == ("2 hour" if provider in ("stripe", "zendesk") else "6 hour") for t in tables), provider
