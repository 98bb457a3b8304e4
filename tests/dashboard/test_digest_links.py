"""The Slack digest links each provider's section to its dashboard page (configurable base URL)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from notifications.digest import build_digest
from sandbox.slack import validate_blocks


def publish_sales(data: Path) -> None:
    with duckdb.connect(str(data / "bi.duckdb")) as con:
        con.execute("create schema tiles")
        con.execute("create table tiles.shopify_sales_daily as select * from (values (date '2026-10-31', 'USD', 3, 300.00, 300.00, "
                    "320.00, 0.00, 1, 2)) as t(order_date, currency, orders_count, net_sales, order_value, orders_total, refunds, "
                    "new_customers, returning_customers)")


def test_sections_link_to_their_page(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish_sales(warehouse)
    monkeypatch.setenv("OPSDATA_DASHBOARD_URL", "https://dash.example.test/")
    digest = build_digest("daily", date(2026, 10, 31))
    (section,) = digest.sections
    assert section.url == "https://dash.example.test/shopify"
    assert "*<https://dash.example.test/shopify|Shopify>*" in json.dumps(digest.blocks, ensure_ascii=False)
    assert "Shopify's: gross − discounts − returns" in digest.render_text()  # says which net sales it shows
    assert validate_blocks(digest.blocks) is None


def test_no_links_when_the_base_url_is_empty(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish_sales(warehouse)
    monkeypatch.setenv("OPSDATA_DASHBOARD_URL", "")
    digest = build_digest("daily", date(2026, 10, 31))
    assert digest.sections[0].url is None and "|Shopify>" not in json.dumps(digest.blocks)
