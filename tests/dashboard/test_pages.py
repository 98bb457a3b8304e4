"""Logic tests of every dashboard page (Streamlit's AppTest, no browser): each page renders from the published tiles
without an exception, its headline numbers equal the tiles, and empty states explain instead of failing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.app import registered_pages
from dashboard.page import PageContractError, ProviderPage, format_value, load_page
from pipelines.contract import ContractError, Provider
from pipelines.registry import extraction_providers
from tests.dashboard.conftest import tile

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
pytestmark = pytest.mark.slow


def provider_page(name: str) -> None:
    from dashboard.app import registered_pages, render_provider

    render_provider(next(e for e in registered_pages() if e.provider == name))


def run_page(name: str) -> AppTest:
    at = AppTest.from_function(provider_page, args=(name,), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_every_registered_provider_has_a_conforming_page() -> None:
    names = [p.name for p in extraction_providers() if p.dashboard_page]
    assert names == [e.provider for e in registered_pages()] == ["shopify", "stripe", "klaviyo", "zendesk"]
    for entry in registered_pages():
        assert isinstance(entry.page, ProviderPage) and entry.page.tiles


def test_a_malformed_dashboard_page_is_refused() -> None:
    with pytest.raises(ContractError, match="dashboard_page must name a module under dashboard/providers/"):
        Provider(name="acme", description="x", credentials=(), sandbox="sandbox.acme", schedule="@hourly",
                 production_base_url="https://acme.test", rate_limit=extraction_providers()[0].rate_limit,
                 source=lambda c: None, dashboard_page="somewhere.else").validate()
    with pytest.raises(PageContractError, match="must define PAGE"):
        load_page("dashboard.data")


def test_overview_cards_equal_business_overview(on_published: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Business overview"
    shown = [(m.label, m.value) for m in at.metric]
    rows = tile(on_published, "select * from tiles.business_overview where period_days = 7 and is_available")
    assert rows
    for r in rows:  # every available figure is on the page, formatted from the tile
        expected = format_value(r["value"], r["unit"], r["currency"])
        assert any(label.startswith(r["metric_label"]) and value == expected for label, value in shown), (r["metric"], expected)
    net = next(r for r in rows if r["metric"] == "net_sales")
    assert dict(shown)["Net sales"] == format_value(net["value"], "money", net["currency"])
    # Meta's figures are there, with their reason, not a number; Zendesk's are numbers now.
    captions = " ".join(c.value for c in at.caption)
    assert "Meta Ads is not set up yet" in captions and "Zendesk is not set up yet" not in captions
    assert any(r["metric"] == "sla_breach_rate" for r in rows)


def test_overview_period_switch_reads_that_period(on_published: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.segmented_control(key="overview-period").set_value(30).run()
    (net,) = tile(on_published, "select value, currency from tiles.business_overview where metric = 'net_sales' and period_days = 30")
    assert metrics(at)["Net sales"] == format_value(net["value"], "money", net["currency"])


def test_shopify_page_headlines_equal_the_tile(on_published: Path) -> None:
    at = run_page("shopify")
    start, end = at.date_input(key="shopify-range").value
    (sums,) = tile(on_published, "select sum(net_sales) as net, sum(orders_count) as n, sum(order_value) as v "
                   "from tiles.shopify_sales_daily where order_date between ? and ?", [start, end])
    shown = metrics(at)
    assert shown["Net sales"] == format_value(sums["net"], "money", "USD")
    assert shown["Orders"] == format_value(sums["n"], "count")
    assert shown["Average order value"] == format_value(sums["v"] / sums["n"], "money", "USD")
    assert len(at.dataframe) == 1 and at.dataframe[0].value.shape[0] == (end - start).days + 1


def test_stripe_page_shows_one_currency_at_a_time(on_published: Path) -> None:
    at = run_page("stripe")
    (mrr,) = tile(on_published, "select mrr from tiles.stripe_subscription_metrics where currency = 'usd' "
                  "order by month_start desc limit 1")
    assert metrics(at)["MRR"] == format_value(mrr["mrr"], "money", "usd")
    at.selectbox(key="stripe-currency").set_value("eur").run()
    (mrr,) = tile(on_published, "select mrr from tiles.stripe_subscription_metrics where currency = 'eur' "
                  "order by month_start desc limit 1")
    assert metrics(at)["MRR"] == format_value(mrr["mrr"], "money", "eur") and metrics(at)["MRR"].startswith("€")
    assert all("customer_email" not in df.value.columns for df in at.dataframe)  # no personal data on the page


def test_klaviyo_page_headlines_equal_the_tile(on_published: Path) -> None:
    at = run_page("klaviyo")
    (r,) = tile(on_published, "select sum(attributed_revenue) as rev from tiles.klaviyo_email_attribution where source_type != 'unattributed'")
    assert metrics(at)["Email-attributed revenue"] == format_value(r["rev"], "money", "USD")
    assert len(at.dataframe) == 4


def test_zendesk_page_headlines_equal_the_tiles(on_published: Path) -> None:
    at = run_page("zendesk")
    days = tile(on_published, "select * from tiles.zendesk_support_overview order by date_day")
    window = days[-30:]  # the page's default range: the last 30 days with data
    assert metrics(at)["Tickets created"] == format_value(sum(d["tickets_created"] for d in window), "count")
    assert metrics(at)["Open backlog (last day)"] == format_value(window[-1]["open_backlog"], "count")
    (c,) = tile(on_published, "select sum(good) as good, sum(bad) as bad from tiles.zendesk_csat where period = 'day' "
                "and period_start between ? and ?", [window[0]["date_day"], window[-1]["date_day"]])
    rated = (c["good"] or 0) + (c["bad"] or 0)
    assert metrics(at)["CSAT (good ÷ rated)"] == format_value(c["good"] / rated if rated else None, "ratio")


def test_nothing_published_explains_itself(warehouse: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception and "Nothing is published yet" in at.info[0].value
    at = AppTest.from_function(provider_page, args=("stripe",), default_timeout=60)
    at.run()
    assert not at.exception and "Nothing is published yet" in at.info[0].value


def test_a_provider_without_tiles_says_how_to_set_it_up(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse / "bi.duckdb")) as con:
        con.execute("create schema tiles")
        con.execute("create table tiles.shopify_sales_daily as select date '2026-10-01' as order_date, 'USD' as currency, "
                    "0 as orders_count, 0.0 as net_sales, 0.0 as returns, 0.0 as order_value, 0 as new_customers, 0 as returning_customers")
    at = AppTest.from_function(provider_page, args=("stripe",), default_timeout=60)
    at.run()
    assert not at.exception
    text = at.info[0].value
    assert "Stripe is not set up yet" in text and "STRIPE_API_KEY" in text
    at = AppTest.from_function(provider_page, args=("shopify",), default_timeout=60)
    at.run()
    assert not at.exception and "No Shopify orders in the selected range" in at.info[0].value
