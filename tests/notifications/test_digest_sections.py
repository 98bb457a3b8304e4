"""Stripe and Klaviyo digest sections against tile tables shaped like their published contracts
(dbt_project/models/tiles/{stripe,klaviyo}/*.yml), filled with values the test chooses and sums itself."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pytest

from notifications.digest import build_digest
from notifications.tiles import TileReader
from pipelines.common.storage import tiles_path
from pipelines.klaviyo.digest import klaviyo_section
from pipelines.stripe.digest import stripe_section

AS_OF = date(2026, 10, 31)


def tiles(*statements: str) -> None:
    with duckdb.connect(str(tiles_path())) as conn:
        conn.execute("create schema if not exists tiles")
        for sql in statements:
            conn.execute(sql)


@pytest.fixture
def stripe_tiles(warehouse):  # type: ignore[no-untyped-def]
    days = [(AS_OF - timedelta(days=i), 100 + 10 * i) for i in range(14)]  # gross per day, both weeks
    tiles(
        "create table tiles.stripe_financial_summary (transaction_date date, currency varchar, gross_volume decimal(18,2), "
        "refunds decimal(18,2), dispute_losses decimal(18,2), stripe_fees decimal(18,2), net decimal(18,2), "
        "payouts decimal(18,2), charges_count integer)",
        "insert into tiles.stripe_financial_summary values "
        + ", ".join(f"('{d}', 'usd', {g}, 5, {25 if d == AS_OF else 0}, 3, {g - 8 - (25 if d == AS_OF else 0)}, 0, 4)" for d, g in days),
        "create table tiles.stripe_payouts (payout_id varchar, created_date date, arrival_date date, currency varchar, "
        "amount decimal(18,2), status varchar, is_upcoming boolean, days_until_arrival integer, failure_code varchar, "
        "failure_message varchar, is_automatic boolean)",
        f"""insert into tiles.stripe_payouts values
            ('po_paid1', '{AS_OF - timedelta(days=3)}', '{AS_OF}', 'usd', 400.00, 'paid', false, null, null, null, true),
            ('po_fail1', '{AS_OF - timedelta(days=1)}', '{AS_OF + timedelta(days=1)}', 'usd', 250.00, 'failed', false, null,
             'account_closed', 'The bank account has been closed.', true),
            ('po_next1', '{AS_OF}', '{AS_OF + timedelta(days=2)}', 'usd', 300.00, 'in_transit', true, 2, null, null, true),
            ('po_old', '{AS_OF - timedelta(days=40)}', '{AS_OF - timedelta(days=38)}', 'usd', 999.00, 'failed', false, null, 'x', 'old', true)""",
        "create table tiles.stripe_disputes (dispute_id varchar, created_date date, currency varchar, amount decimal(18,2), "
        "reason varchar, status varchar, is_open boolean, days_left_for_evidence integer)",
        f"""insert into tiles.stripe_disputes values
            ('dp_new', '{AS_OF}', 'usd', 80.00, 'product_not_received', 'needs_response', true, 6),
            ('dp_due', '{AS_OF - timedelta(days=10)}', 'usd', 45.50, 'fraudulent', 'needs_response', true, 2),
            ('dp_done', '{AS_OF - timedelta(days=20)}', 'usd', 10.00, 'fraudulent', 'won', false, null)""",
        "create table tiles.stripe_subscription_metrics (month_start date, currency varchar, mrr decimal(18,2), active_subscribers integer)",
        "insert into tiles.stripe_subscription_metrics values ('2026-09-01', 'usd', 2000, 80), ('2026-10-01', 'usd', 2200, 85), "
        "('2026-11-01', 'usd', 2500, 90)",
    )
    return days


def test_stripe_section(stripe_tiles) -> None:  # type: ignore[no-untyped-def]
    section = stripe_section(TileReader(), build_digest("daily", AS_OF).period)
    assert section is not None
    text = "\n".join(section.lines)
    # daily: gross 100 today vs 110 yesterday; net = 100 - 8 - 25 lost to a dispute
    assert "*Gross volume* $100.00  ▼ 9.1% · 4 charges" in text
    assert "Net $67.00" in text and "(refunds $5.00, fees $3.00)" in text
    assert "Payouts arrived 1 · $400.00" in text
    assert "On the way $300.00 (next arrives Mon 2 Nov)" in text
    assert "MRR $2,200.00  ▲ 10.0% vs last month · 85 subscribers" in text  # November is after the period
    attention = "\n".join(section.attention)
    assert "Lost $25.00 to Stripe disputes" in attention
    assert "Stripe payout po_fail1 of $250.00 failed: The bank account has been closed." in attention
    assert "po_old" not in attention  # an old failure was reported in its own period
    assert "New Stripe dispute dp_new: $80.00 (product not received)" in attention
    assert "Evidence for dispute dp_due ($45.50) is due in 2 day(s)" in attention


def test_stripe_weekly_sums(stripe_tiles) -> None:  # type: ignore[no-untyped-def]
    days = stripe_tiles
    week = sum(g for d, g in days if d > AS_OF - timedelta(days=7))
    before = sum(g for d, g in days if d <= AS_OF - timedelta(days=7))
    section = stripe_section(TileReader(), build_digest("weekly", AS_OF).period)
    assert section is not None
    pct = (Decimal(before) - week) / before * 100
    assert f"*Gross volume* ${week:,.2f}  ▼ {pct:.1f}% · 28 charges" in section.lines[0]


@pytest.fixture
def klaviyo_tiles(warehouse):  # type: ignore[no-untyped-def]
    tiles(
        "create table tiles.klaviyo_campaign_performance (campaign_id varchar, send_date date, recipients integer, "
        "delivered integer, unique_opens integer, unique_clicks integer, spam_complaints integer, attributed_revenue decimal(18,2))",
        f"""insert into tiles.klaviyo_campaign_performance values
            ('c1', '{AS_OF}', 1010, 1000, 400, 50, 1, 1200.00),
            ('c2', '{AS_OF}', 505, 500, 100, 10, 5, 300.00),
            ('c0', '{AS_OF - timedelta(days=1)}', 800, 800, 300, 30, 0, 1000.00)""",
        "create table tiles.klaviyo_segment_health (group_id varchar, group_type varchar, group_name varchar, metric_date date, "
        "profile_count integer, new_members integer)",
        f"""insert into tiles.klaviyo_segment_health values
            ('s1', 'segment', 'VIP', '{AS_OF}', 120, 4), ('s1', 'segment', 'VIP', '{AS_OF - timedelta(days=1)}', 116, 1),
            ('l1', 'list', 'Newsletter', '{AS_OF}', 900, 0), ('s2', 'segment', 'Lapsed <90d>', '{AS_OF}', 50, 2)""",
        "create table tiles.klaviyo_lifecycle_stages (lifecycle_stage varchar, stage_order integer, customers integer)",
        "insert into tiles.klaviyo_lifecycle_stages values ('repeat', 3, 300), ('prospect', 1, 200), ('at_risk', 4, 80), "
        "('new', 2, 120), ('lapsed', 5, 40)",
    )


def test_klaviyo_section(klaviyo_tiles) -> None:  # type: ignore[no-untyped-def]
    section = klaviyo_section(TileReader(), build_digest("daily", AS_OF).period)
    assert section is not None
    text = "\n".join(section.lines)
    assert "*Campaigns sent* 2 · 1,500 delivered" in text
    assert "Open rate 33.3% · click rate 4.0%" in text  # weighted by delivered: 500/1500 and 60/1500, not an average
    assert "Attributed revenue $1,500.00  ▲ 50.0%" in text
    assert "Largest segments: Newsletter 900, VIP 120 (+4), Lapsed &lt;90d&gt; 50 (+2)" in text
    assert "Customers by stage: prospect 200 · new 120 · repeat 300 · at risk 80 · lapsed 40" in text
    assert section.attention == ["Klaviyo spam complaints at 0.40% of delivered email (limit 0.3%)"]


def test_all_sections_in_one_digest(stripe_tiles, klaviyo_tiles) -> None:  # type: ignore[no-untyped-def]
    digest = build_digest("daily", AS_OF)
    assert [s.title for s in digest.sections] == ["Stripe", "Klaviyo"]  # no Shopify tile published here
    text = digest.render_text()
    assert text.index("Needs attention") < text.index("\nStripe")  # attention first (the title may carry its page link)
    assert "New Stripe dispute dp_new" in text
