"""Zendesk's dashboard page: ticket volume and backlog, reply and resolution times, SLA breach rate by policy metric
(Zendesk's own SLA events), CSAT on both scales (never mixed), and agents by week."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboard import data
from dashboard.page import PageContext, ProviderPage, date_range, format_value, no_data, table, tile_missing

OVERVIEW, SLA, AGENTS, CSAT = "zendesk_support_overview", "zendesk_sla_performance", "zendesk_agent_metrics", "zendesk_csat"


def render(ctx: PageContext) -> None:
    if OVERVIEW not in ctx.available:
        tile_missing(OVERVIEW)
        return
    bounds = data.query(f"select min(date_day) as first, max(date_day) as last from tiles.{OVERVIEW}")
    if bounds.empty or bounds["first"].isna().all():
        no_data("Zendesk tickets")
        return
    start, end = date_range("zendesk-range", bounds["first"][0], bounds["last"][0])
    days = data.query(f"select * from tiles.{OVERVIEW} where date_day between ? and ? order by date_day", (start, end))
    if days.empty or days["tickets_created"].sum() == 0 and days["tickets_solved"].sum() == 0:
        no_data("tickets")
        return
    created, solved = int(days["tickets_created"].sum()), int(days["tickets_solved"].sum())
    orders = int(days["shopify_orders"].sum())
    cols = st.columns(4)
    cols[0].metric("Tickets created", format_value(created, "count"))
    cols[1].metric("Solved", format_value(solved, "count"), help="Solves in the range (a ticket solved twice counts twice).")
    cols[2].metric("Open backlog (last day)", format_value(int(days["open_backlog"].iloc[-1]), "count"),
                   help="Unsolved tickets (new, open, pending, on-hold) at the end of the last day.")
    cols[3].metric("Tickets per 100 orders", format_value(100 * created / orders if orders else None, "count"),
                   help="Support load: tickets created ÷ valid Shopify orders × 100.")
    st.subheader("Tickets and backlog by day")
    base = alt.Chart(days).encode(x=alt.X("date_day:T", title=None))
    st.altair_chart(base.mark_bar(opacity=0.6).encode(y=alt.Y("tickets_created:Q", title="Tickets created"))
                    + base.mark_line(color="#e45756").encode(y=alt.Y("open_backlog:Q", title="Open backlog")), width="stretch")
    st.subheader("First reply, median (business minutes)")
    st.altair_chart(base.mark_line(point=True).encode(y=alt.Y("first_reply_median_business_minutes:Q", title="Minutes"),
                    tooltip=["date_day:T", "first_reply_median_business_minutes:Q", "first_reply_median_calendar_minutes:Q"]),
                    width="stretch")
    table(days, f"zendesk_overview_{start}_{end}", "zendesk-overview")

    if SLA in ctx.available:
        st.subheader("SLA breach rate (28 days), by policy metric")
        sla = data.query(f"select * from tiles.{SLA} where date_day between ? and ? order by date_day", (start, end))
        if sla.empty:
            no_data("SLA targets")
        else:
            st.altair_chart(alt.Chart(sla).mark_line().encode(
                x=alt.X("date_day:T", title=None), y=alt.Y("breach_rate_28d:Q", title="Breach rate", axis=alt.Axis(format="%")),
                color=alt.Color("sla_metric:N", title=None), strokeDash="sla_policy_title:N",
                tooltip=["date_day:T", "sla_policy_title:N", "sla_metric:N", "targets_breached:Q", "targets_achieved:Q"]), width="stretch")
    if CSAT in ctx.available:
        st.subheader("Satisfaction")
        csat = data.query(f"select * from tiles.{CSAT} where period = 'day' and period_start between ? and ?", (start, end))
        good, bad = int(csat["good"].sum()), int(csat["bad"].sum())
        responses = int(csat["rating_5pt_responses"].sum())
        average = (csat["rating_5pt_average"] * csat["rating_5pt_responses"]).sum() / responses if responses else None
        scale = st.columns(2)
        scale[0].metric("CSAT (good ÷ rated)", format_value(good / (good + bad) if good + bad else None, "ratio"),
                       help="Legacy good/bad surveys offered in the range; offered-only surveys never count.")
        scale[1].metric("Rating, 1-5 scale", f"{average:.2f}" if average is not None else "n/a",
                       help="The 1-5 survey on its own scale: never mixed with good/bad.")
    if AGENTS in ctx.available:
        st.subheader("Agents by week")
        agents = data.query(f"select * from tiles.{AGENTS} where week_start between ? and ? order by week_start desc, agent_name",
                            (start, end))
        table(agents, f"zendesk_agents_{start}_{end}", "zendesk-agents")


PAGE = ProviderPage(
    title="Zendesk",
    tiles=(OVERVIEW, SLA, CSAT, AGENTS),
    render=render,
    icon=":material/support_agent:",
    description="Support: volume and backlog, reply and resolution times, SLA breaches, CSAT and agents.",
)
