"""tiles.business_overview, built by dbt over real extractions of the small world (every registered provider), against
values computed here from the world's own objects (Shopify orders, Klaviyo touches, Stripe subscriptions, disputes and
payouts, Zendesk tickets, SLA targets and ratings, Meta ad deliveries), for every reporting period; dbt's source
freshness is published beside the tiles for every registered provider."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from pipelines.common.storage import REPO_ROOT, tiles_path
from pipelines.registry import extraction_providers
from pipelines.transform import publish
from tests.dbt.klaviyo.test_klaviyo_tiles import live_orders, our_attribution
from tests.dbt.shopify.ground_truth import expected_sales_daily
from tests.dbt.stripe import ground_truth as gt

pytestmark = pytest.mark.slow
PERIODS = (1, 7, 30)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, small_world_build: Any) -> Iterator[tuple[Any, dict[tuple[str, int, str | None], dict[str, Any]], list[dict[str, Any]]]]:
    from sandbox.server import SandboxServer

    data = tmp_path_factory.mktemp("overview")
    with pytest.MonkeyPatch.context() as mp, SandboxServer(scale="small", latency="zero") as server:
        mp.setenv("OPSDATA_DATA_DIR", str(data))
        # business_overview reads every registered provider's components: full loads of this same (unadvanced) world,
        # built by dbt (`+business_overview`) with its source freshness (tests/dbt/conftest.py)
        small_world_build.copy_into(data)
        assert small_world_build.as_of == server.world.now.date().isoformat()
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


def meta_truth(world: Any, days: int) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """Ad spend (Ads Manager's, the whole account), blended ROAS = Shopify net sales / ad spend and new-customer
    acquisition cost = ad spend / Shopify new customers, over the period and the previous one. The sandbox's ad account
    and shop are both in USD, so every figure is in USD."""
    mw = world.extension("meta")
    shop = shopify_truth(world, days)
    start, end, prev_start, prev_end = period(world.now.date(), days)
    spend = [Decimal(mw.ads_manager(None, a, b, world.now)["spend_cents"]) / 100 for a, b in ((start, end), (prev_start, prev_end))]

    def ratio(numerator: Decimal | None, denominator: Decimal | None) -> Decimal | None:
        return numerator / denominator if numerator is not None and denominator else None

    return {
        "ad_spend": (spend[0], spend[1]),
        "blended_roas": (ratio(shop["net_sales"][0], spend[0]), ratio(shop["net_sales"][1], spend[1])),
        "new_customer_acquisition_cost": (ratio(spend[0], shop["new_customers"][0]), ratio(spend[1], shop["new_customers"][1])),
    }


@pytest.mark.parametrize("days", PERIODS)
def test_meta_figures_match_the_world(built: Any, days: int) -> None:
    world, rows, _ = built
    truth = meta_truth(world, days)
    assert truth["ad_spend"][0] > 0 and truth["ad_spend"][1] > 0, "the small world should have spend in every period"
    for metric, (value, previous) in truth.items():
        (row,) = [r for (m, d, _), r in rows.items() if m == metric and d == days]
        assert row["provider"] == "meta" and row["currency"] == "USD", (metric, row["currency"])
        assert row["unit"] == {"ad_spend": "money", "blended_roas": "multiple", "new_customer_acquisition_cost": "money"}[metric]
        # is_available says Meta's tiles are built; a period with nothing to divide by is available with value NULL
        assert row["is_available"] and row["unavailable_reason"] is None, (metric, days, row["unavailable_reason"])
        assert close(row["value"], value), (metric, days, row["value"], value)
        assert close(row["previous_value"], previous), (metric, days, row["previous_value"], previous)
    # Meta's own (attributed) ROAS is context beside the blended one, Ads Manager's figure for the same setting.
    start, end, _, _ = period(world.now.date(), days)
    own = world.extension("meta").ads_manager(None, start, end, world.now)
    detail = rows[("ad_spend", days, "USD")]["detail"]
    assert detail.startswith("Meta's own ROAS: ") and "7d_click_1d_view attribution" in detail, detail
    assert abs(Decimal(detail.split(": ")[1].split(" ")[0]) - Decimal(own["purchase_value_cents"]) / own["spend_cents"]) <= Decimal("0.005")


def test_every_figure_is_available_once_every_provider_is_set_up(built: Any) -> None:
    """Every registered provider is extracted here, so no figure may say its provider is not set up; each figure's
    provider is a registered provider with a dashboard page (the card links to it)."""
    _, rows, _ = built
    pages = {p.name for p in extraction_providers() if p.dashboard_page}
    assert {r["provider"] for r in rows.values()} <= pages
    assert not [r["metric"] for r in rows.values() if "not set up yet" in (r["unavailable_reason"] or "")]


def test_money_is_never_summed_across_currencies(built: Any) -> None:
    _, rows, _ = built
    money = [r for r in rows.values() if r["unit"] == "money"]
    assert all(r["currency"] is not None for r in money)
    assert {r["currency"] for r in money if r["metric"] == "mrr"} >= {"USD", "EUR"}


def declared_warn_after(provider: str) -> str:
    """The warn_after the provider's dbt source declares (models/staging/<p>/_<p>__sources.yml), as dbt reports it."""
    import yaml

    path = REPO_ROOT / "dbt_project" / "models" / "staging" / provider / f"_{provider}__sources.yml"
    (source,) = yaml.safe_load(path.read_text())["sources"]
    warn = source["freshness"]["warn_after"]
    return f"{warn['count']} {warn['period']}"


def declared_fresh_tables(provider: str) -> set[str]:
    """The provider's source tables whose freshness dbt checks: all but those declaring `freshness: null`."""
    import yaml

    path = REPO_ROOT / "dbt_project" / "models" / "staging" / provider / f"_{provider}__sources.yml"
    (source,) = yaml.safe_load(path.read_text())["sources"]
    return {t["name"] for t in source["tables"] if "freshness" not in t or t["freshness"] is not None}


def test_dbt_source_freshness_is_published_per_provider(built: Any) -> None:
    _, _, freshness = built
    # Every checked table has its row: a table dbt cannot check (a runtime error) is missing from sources.json
    assert {(r["provider"], r["source_table"]) for r in freshness} == {
        (p.name, t) for p in extraction_providers() for t in declared_fresh_tables(p.name)}
    by_provider: dict[str, list[dict[str, Any]]] = {}
    for r in freshness:
        by_provider.setdefault(r["provider"], []).append(r)
    assert set(by_provider) == {p.name for p in extraction_providers()}
    for provider, tables in by_provider.items():
        assert all(t["status"] == "pass" for t in tables), [(t["source_table"], t["status"]) for t in tables]
        loaded = max(t["max_loaded_at"] for t in tables)
        # Every table reads its provider's last completed dlt load, whether or not that load changed it.
        assert {t["max_loaded_at"] for t in tables} == {loaded}, provider
        assert isinstance(loaded, datetime) and loaded.tzinfo is not None
        assert all(t["warn_after"] == declared_warn_after(provider) for t in tables), provider
