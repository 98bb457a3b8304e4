"""Klaviyo's dashboard page: campaign performance, attribution by campaign and flow (ours beside Klaviyo's), segment
health over time and lifecycle stages. Revenue is in the Shopify shop currency (USD)."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboard import data
from dashboard.page import PageContext, ProviderPage, date_range, format_value, no_data, table

CAMPAIGNS, ATTRIBUTION, SEGMENTS, STAGES = ("klaviyo_campaign_performance", "klaviyo_email_attribution",
                                           "klaviyo_segment_health", "klaviyo_lifecycle_stages")
SHOP_CURRENCY = "USD"


def render(ctx: PageContext) -> None:
    if ATTRIBUTION in ctx.available:
        st.subheader("Attributed revenue by campaign and flow")
        rows = data.query(f"select * from tiles.{ATTRIBUTION} order by attributed_revenue desc")
        attributed = rows[rows["source_type"] != "unattributed"]
        total = rows["attributed_revenue"].sum()
        cols = st.columns(3)
        cols[0].metric("Email-attributed revenue", format_value(attributed["attributed_revenue"].sum(), "money", SHOP_CURRENCY))
        cols[1].metric("Share of order revenue", format_value(attributed["attributed_revenue"].sum() / total if total else None, "ratio"),
                       help="Last human open or click within the attribution window (120 h) before the order; all time.")
        cols[2].metric("Klaviyo's own attribution", format_value(attributed["klaviyo_attributed_revenue"].sum(), "money", SHOP_CURRENCY),
                       help="Klaviyo counts machine opens and cancelled orders too.")
        if attributed.empty:
            no_data("attributed orders")
        else:
            top = attributed.head(15)
            st.altair_chart(alt.Chart(top).mark_bar().encode(
                x=alt.X("attributed_revenue:Q", title=f"Attributed revenue ({SHOP_CURRENCY})"),
                y=alt.Y("source_name:N", sort="-x", title=None), color=alt.Color("source_type:N", title=None),
                tooltip=["source_name:N", "source_type:N", "attributed_orders:Q", "attributed_revenue:Q", "klaviyo_attributed_revenue:Q"]),
                width="stretch")
        table(rows, "klaviyo_email_attribution", "klaviyo-attribution")

    if CAMPAIGNS in ctx.available:
        st.subheader("Campaigns")
        bounds = data.query(f"select min(send_date) as first, max(send_date) as last from tiles.{CAMPAIGNS}")
        if bounds["first"].isna().all():
            no_data("sent campaigns")
        else:
            start, end = date_range("klaviyo-range", bounds["first"][0], bounds["last"][0], default_days=90)
            campaigns = data.query(f"select * from tiles.{CAMPAIGNS} where send_date between ? and ? order by send_date desc", (start, end))
            if campaigns.empty:
                no_data("campaigns")
            else:
                delivered = campaigns["delivered"].sum()
                cols = st.columns(3)
                cols[0].metric("Campaigns sent", format_value(len(campaigns), "count"))
                cols[1].metric("Open rate", format_value(campaigns["unique_opens"].sum() / delivered if delivered else None, "ratio"),
                               help="Unique human opens ÷ delivered (machine opens excluded).")
                cols[2].metric("Click rate", format_value(campaigns["unique_clicks"].sum() / delivered if delivered else None, "ratio"))
                table(campaigns, f"klaviyo_campaigns_{start}_{end}", "klaviyo-campaigns")

    if SEGMENTS in ctx.available:
        st.subheader("Segment health")
        segments = data.query(f"select * from tiles.{SEGMENTS} order by metric_date")
        if segments.empty:
            no_data("list or segment members")
        else:
            st.altair_chart(alt.Chart(segments).mark_line().encode(
                x=alt.X("metric_date:T", title=None), y=alt.Y("profile_count:Q", title="Members"),
                color=alt.Color("group_name:N", title=None), tooltip=["group_name:N", "metric_date:T", "profile_count:Q", "engaged_30d_share:Q"]),
                width="stretch")
            latest = segments[segments["metric_date"] == segments["metric_date"].max()]
            table(latest, "klaviyo_segments_latest", "klaviyo-segments")

    if STAGES in ctx.available:
        st.subheader("Lifecycle stages")
        stages = data.query(f"select * from tiles.{STAGES} order by stage_order")
        st.altair_chart(alt.Chart(stages).mark_bar().encode(
            x=alt.X("lifecycle_stage:N", sort=list(stages["lifecycle_stage"]), title=None), y=alt.Y("customers:Q"),
            tooltip=["lifecycle_stage:N", "stage_definition:N", "customers:Q", "revenue_last_90d:Q"]), width="stretch")
        table(stages, "klaviyo_lifecycle_stages", "klaviyo-stages")


PAGE = ProviderPage(
    title="Klaviyo",
    tiles=(ATTRIBUTION, CAMPAIGNS, SEGMENTS, STAGES),
    render=render,
    icon=":material/mail:",
    description="Email: campaigns, our last-touch attribution beside Klaviyo's, segments and lifecycle stages.",
)
