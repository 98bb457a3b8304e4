"""Every dashboard page in a real headless Chromium (Debian's), served by `streamlit run` on the demo world: the
headline numbers on the page equal the tiles, and a screenshot of each page is saved (OPSDATA_SCREENSHOT_DIR, or the
test's temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboard.page import format_value
from tests.dashboard.browser import chromium, dashboard_server, wait_for_page
from tests.dashboard.conftest import tile

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(os.environ.get("OPSDATA_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_every_page_in_chromium_shows_the_tiles(published: Path, screenshots: Path, tmp_path: Path) -> None:
    overview = tile(published, "select * from tiles.business_overview where period_days = 7 and is_available")
    (shopify,) = tile(published, "select sum(net_sales) as net, sum(orders_count) as n from tiles.shopify_sales_daily "
                      "where order_date > (select max(order_date) from tiles.shopify_sales_daily) - 30")
    (mrr,) = tile(published, "select mrr from tiles.stripe_subscription_metrics where currency = 'usd' order by month_start desc limit 1")
    (email,) = tile(published, "select sum(attributed_revenue) as rev from tiles.klaviyo_email_attribution where source_type != 'unattributed'")
    zendesk_days = tile(published, "select tickets_created from tiles.zendesk_support_overview order by date_day")
    with dashboard_server(published) as url, chromium(tmp_path / "chromium") as browser:
        shown = wait_for_page(browser, url, "Business overview")
        browser.save_screenshot(str(screenshots / "overview.png"))
        for r in overview:
            expected = format_value(r["value"], r["unit"], r["currency"])
            assert any(label.startswith(r["metric_label"]) and value == expected for label, value in shown), (r["metric"], expected, shown)
        page = browser.page_source
        assert "Meta Ads is not set up yet" in page and "Zendesk is not set up yet" not in page

        shown = dict(wait_for_page(browser, f"{url}/shopify", "Shopify"))
        browser.save_screenshot(str(screenshots / "shopify.png"))
        assert shown["Net sales"] == format_value(shopify["net"], "money", "USD")
        assert shown["Orders"] == format_value(shopify["n"], "count")

        shown = dict(wait_for_page(browser, f"{url}/stripe", "Stripe"))
        browser.save_screenshot(str(screenshots / "stripe.png"))
        assert shown["MRR"] == format_value(mrr["mrr"], "money", "usd")

        shown = dict(wait_for_page(browser, f"{url}/klaviyo", "Klaviyo"))
        browser.save_screenshot(str(screenshots / "klaviyo.png"))
        assert shown["Email-attributed revenue"] == format_value(email["rev"], "money", "USD")
        assert "Traceback" not in browser.page_source

        shown = dict(wait_for_page(browser, f"{url}/zendesk", "Zendesk"))
        browser.save_screenshot(str(screenshots / "zendesk.png"))
        assert shown["Tickets created"] == format_value(sum(d["tickets_created"] for d in zendesk_days[-30:]), "count")
        assert "Traceback" not in browser.page_source
    assert all((screenshots / f"{p}.png").stat().st_size > 10_000 for p in ("overview", "shopify", "stripe", "klaviyo", "zendesk"))
