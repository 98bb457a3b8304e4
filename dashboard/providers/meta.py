"""Meta's dashboard page: ad spend and ROAS by campaign (Meta's own, under the attribution setting the rows state) beside
the blended view against Shopify, follower growth and engagement per platform, post performance, and the audience.
One currency at a time for money; reach is never added up (a period's reach is Meta's own figure, not a sum)."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.page import (
    PageContext,
    ProviderPage,
    currency_filter,
    date_range,
    format_value,
    no_data,
    table,
    tile_missing,
)

SOCIAL, POSTS, CAMPAIGNS, BLENDED, AUDIENCE, TOKENS = ("social_overview", "social_post_performance", "ads_campaign_roi",
                                                       "ads_blended_daily", "social_audience_demographics", "meta_token_status")
PLATFORMS = {"facebook": "Facebook", "instagram": "Instagram"}


def ratio_of(numerator: Any, denominator: Any) -> float | None:
    """numerator / denominator, or None over nothing (no spend, no clicks): a ratio the page shows as n/a."""
    return float(numerator) / float(denominator) if denominator and not pd.isna(denominator) else None


def campaign_totals(days: pd.DataFrame) -> pd.DataFrame:
    """Per campaign over the range: sums of the additive figures and the ratios recomputed from those sums. Reach is
    left out: people reached over a range are Meta's figure for that range, never the sum of the days."""
    sums = days.groupby(["campaign_id", "campaign_name"], as_index=False)[
        ["spend", "impressions", "clicks", "link_clicks", "purchases", "purchase_value"]].sum()
    sums["roas"] = [ratio_of(v, s) for v, s in zip(sums["purchase_value"], sums["spend"], strict=True)]
    sums["cpa"] = [ratio_of(s, p) for s, p in zip(sums["spend"], sums["purchases"], strict=True)]
    sums["ctr"] = [ratio_of(c, i) for c, i in zip(sums["clicks"], sums["impressions"], strict=True)]
    sums["cpc"] = [ratio_of(s, c) for s, c in zip(sums["spend"], sums["clicks"], strict=True)]
    return sums.sort_values("spend", ascending=False)


def bounds(ctx: PageContext) -> tuple[Any, Any] | None:
    """The first and last day any of the page's daily tiles has."""
    parts = [f"select min({col}) as first, max({col}) as last from tiles.{name}"
             for name, col in ((SOCIAL, "metric_date"), (CAMPAIGNS, "metric_date"), (BLENDED, "metric_date")) if name in ctx.available]
    if not parts:
        return None
    found = data.query(f"select min(first) as first, max(last) as last from ({' union all '.join(parts)})")
    if found.empty or found["first"].isna().all():
        return None
    return found["first"][0], found["last"][0]


def token_warnings(ctx: PageContext) -> None:
    if TOKENS not in ctx.available:
        return
    tokens = data.query(f"select token_type, is_valid, days_left, warning from tiles.{TOKENS}")
    for t in tokens.itertuples(index=False):
        if not t.is_valid:
            st.error(f"Meta rejects the {t.token_type} access token: renew META_ACCESS_TOKEN (see the README).", icon=":material/key_off:")
        elif isinstance(t.warning, str) and t.warning:
            st.warning(f"{t.token_type} access token: {t.warning}", icon=":material/key:")


def render_ads(ctx: PageContext, start: Any, end: Any) -> None:
    st.subheader("Ads")
    options = data.query(f"select distinct currency from tiles.{CAMPAIGNS} where currency is not null")["currency"].tolist()
    if not options:
        no_data("Meta ad delivery")
        return
    currency = currency_filter("meta-currency", options)
    days = data.query(f"select * from tiles.{CAMPAIGNS} where currency = ? and metric_date between ? and ? order by metric_date",
                      (currency, start, end))
    if days.empty:
        no_data("ad delivery")
        return
    settings = sorted(days["attribution_setting"].dropna().unique())
    spend, value = days["spend"].sum(), days["purchase_value"].sum()
    cols = st.columns(4)
    cols[0].metric("Ad spend", format_value(spend, "money", currency))
    cols[1].metric("Meta ROAS", format_value(ratio_of(value, spend), "multiple"),
                   help=f"Purchase value Meta attributes to its ads ÷ spend, under {', '.join(settings)} attribution: "
                        "Ads Manager's figure for the same setting. Recent days' purchases are still arriving.")
    cols[2].metric("Purchases (Meta-attributed)", format_value(days["purchases"].sum(), "count"))
    cols[3].metric("Purchase value (Meta-attributed)", format_value(value, "money", currency))
    st.caption(f"Attribution setting: {', '.join(settings)} (the ad sets' unified setting, as every row of the tile states).")

    totals = campaign_totals(days)
    st.subheader("ROAS by campaign")
    st.altair_chart(alt.Chart(totals).mark_bar().encode(
        x=alt.X("roas:Q", title="ROAS (purchase value ÷ spend)"), y=alt.Y("campaign_name:N", sort="-x", title=None),
        tooltip=["campaign_name:N", alt.Tooltip("spend:Q", format=",.2f"), alt.Tooltip("purchase_value:Q", format=",.2f"),
                 alt.Tooltip("roas:Q", format=".2f"), "purchases:Q"]), width="stretch")
    table(totals, f"meta_campaigns_{start}_{end}_{currency}", "meta-campaigns")
    st.caption("Reach is not in this table: people reached over a range are not the sum of the days. "
               "Each day's campaign reach is in the daily table below.")
    with st.expander("Campaigns by day"):
        table(days, f"meta_campaign_days_{start}_{end}_{currency}", "meta-campaign-days")

    if BLENDED not in ctx.available:
        tile_missing(BLENDED)
        return
    st.subheader("Blended: Meta spend against Shopify sales")
    blended = data.query(f"select * from tiles.{BLENDED} where currency = ? and metric_date between ? and ? order by metric_date",
                         (currency, start, end))
    if blended.empty:
        no_data("days with spend or sales")
        return
    spend, sales, new = blended["ad_spend"].sum(), blended["shopify_net_sales"].sum(), blended["shopify_new_customers"].sum()
    blend_cols = st.columns(3)
    blend_cols[0].metric("Blended ROAS", format_value(ratio_of(sales, spend), "multiple"),
                   help="Shopify net sales ÷ Meta spend over the range: does not depend on Meta's attribution.")
    blend_cols[1].metric("Shopify net sales", format_value(sales, "money", currency))
    blend_cols[2].metric("Cost per new customer", format_value(ratio_of(spend, new), "money", currency),
                   help="Meta spend ÷ Shopify first-time customers over the range.")
    long = blended.melt(id_vars=["metric_date"], value_vars=["ad_spend", "shopify_net_sales"], var_name="figure", value_name="amount")
    long["figure"] = long["figure"].map({"ad_spend": "Meta spend", "shopify_net_sales": "Shopify net sales"})
    st.altair_chart(alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("metric_date:T", title=None), y=alt.Y("amount:Q", title=currency.upper()), color=alt.Color("figure:N", title=None),
        tooltip=["metric_date:T", "figure:N", alt.Tooltip("amount:Q", format=",.2f")]), width="stretch")
    table(blended, f"meta_blended_{start}_{end}_{currency}", "meta-blended")


def render_social(ctx: PageContext, start: Any, end: Any) -> None:
    st.subheader("Followers and engagement")
    days = data.query(f"select * from tiles.{SOCIAL} where metric_date between ? and ? order by metric_date, platform", (start, end))
    if days.empty:
        no_data("social activity")
        return
    cols = st.columns(4)
    for i, (platform, label) in enumerate(PLATFORMS.items()):
        mine = days[days["platform"] == platform]
        if mine.empty:
            cols[2 * i].metric(f"{label} followers", "n/a")
            continue
        # The engagement rate over the range is not computed here: it divides by reach, which cannot be added up.
        cols[2 * i].metric(f"{label} followers", format_value(mine["followers"].iloc[-1], "count"),
                           delta=f"{int(mine['net_follows'].sum()):+,} in range", help="At the end of the last day; net follows over the range.")
        cols[2 * i + 1].metric(f"{label} engagements", format_value(mine["engagements"].sum(), "count"),
                               help="Facebook page_post_engagements, Instagram total_interactions, over the range.")
    chart = days.assign(platform=days["platform"].map(PLATFORMS))
    st.altair_chart(alt.Chart(chart).mark_line().encode(
        x=alt.X("metric_date:T", title=None), y=alt.Y("followers:Q", title="Followers", scale=alt.Scale(zero=False)),
        color=alt.Color("platform:N", title=None), tooltip=["metric_date:T", "platform:N", "followers:Q", "net_follows:Q"]),
        width="stretch")
    st.altair_chart(alt.Chart(chart).mark_line().encode(
        x=alt.X("metric_date:T", title=None), y=alt.Y("engagement_rate:Q", title="Engagement rate (engagements ÷ reach)", axis=alt.Axis(format="%")),
        color=alt.Color("platform:N", title=None), tooltip=["metric_date:T", "platform:N", "engagements:Q", "reach:Q", "engagement_rate:Q"]),
        width="stretch")
    table(days, f"meta_social_{start}_{end}", "meta-social")

    if POSTS in ctx.available:
        st.subheader("Posts published in the range")
        posts = data.query(f"select * from tiles.{POSTS} where published_date between ? and ? order by engagements desc nulls last",
                           (start, end))
        if posts.empty:
            no_data("posts")
        else:
            st.caption("Lifetime values as last read (`values_as_of`); a post read in its first hours is still growing.")
            table(posts, f"meta_posts_{start}_{end}", "meta-posts")


def render_audience(ctx: PageContext) -> None:
    if AUDIENCE not in ctx.available:
        return
    st.subheader("Audience")
    cells = data.query(f"select * from tiles.{AUDIENCE} order by platform, breakdown, share desc")
    if cells.empty:
        no_data("audience demographics")
        return
    cells["view"] = cells["platform"].map({"instagram": "Instagram followers", "meta_ads": "Ad reach (28 days)"}).fillna(cells["platform"]) \
        + " by " + cells["breakdown"].str.replace("_", " + ")
    views = list(dict.fromkeys(cells["view"]))
    picked = st.selectbox("Breakdown", views, key="meta-audience")
    shown = cells[cells["view"] == picked].head(15)
    st.altair_chart(alt.Chart(shown).mark_bar().encode(
        x=alt.X("share:Q", title="Share", axis=alt.Axis(format="%")), y=alt.Y("segment:N", sort="-x", title=None),
        tooltip=["segment:N", "people:Q", alt.Tooltip("share:Q", format=".1%")]), width="stretch")
    table(cells.drop(columns=["view"]), "meta_audience", "meta-audience-table")


def render(ctx: PageContext) -> None:
    token_warnings(ctx)
    found = bounds(ctx)
    if found is None:
        no_data("Meta activity")
        render_audience(ctx)
        return
    start, end = date_range("meta-range", *found)
    if CAMPAIGNS in ctx.available:
        render_ads(ctx, start, end)
    else:
        tile_missing(CAMPAIGNS)
    if SOCIAL in ctx.available:
        render_social(ctx, start, end)
    render_audience(ctx)


PAGE = ProviderPage(
    title="Meta",
    tiles=(CAMPAIGNS, BLENDED, SOCIAL, POSTS, AUDIENCE, TOKENS),
    render=render,
    icon=":material/campaign:",
    description="Facebook Page, Instagram and Meta Ads: spend and ROAS by campaign, the blended view against Shopify, "
                "follower growth, posts and the audience.",
)
