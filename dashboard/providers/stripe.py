"""Stripe's dashboard page: MRR and its movements (a waterfall), money in and out per day, the payout calendar and
the dispute deadlines. One currency at a time."""

from __future__ import annotations

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

SUMMARY, PAYOUTS, DISPUTES, SUBSCRIPTIONS = ("stripe_financial_summary", "stripe_payouts", "stripe_disputes",
                                             "stripe_subscription_metrics")


def currencies(ctx: PageContext) -> list[str]:
    found: set[str] = set()
    for table_name in ctx.available:
        found |= set(data.query(f"select distinct currency from tiles.{table_name}")["currency"].dropna())
    return sorted(found)


def waterfall(month: pd.Series, currency: str) -> alt.LayerChart:
    """Last month's MRR, each movement as a step up or down, this month's MRR."""
    start = float(month["mrr"]) - float(month["net_new"])
    steps = [("Last month", start, "total"), ("New", month["new_mrr"], "up"), ("Reactivation", month["reactivation_mrr"], "up"),
             ("Expansion", month["expansion_mrr"], "up"), ("Contraction", -month["contraction_mrr"], "down"),
             ("Churned", -month["churned_mrr"], "down")]
    rows, level = [], 0.0
    for i, (label, amount, kind) in enumerate(steps):
        amount = float(amount)
        low, high = (0.0, amount) if kind == "total" else (level, level + amount)
        level = high if kind == "total" else level + amount
        rows.append({"order": i, "step": label, "low": min(low, high), "high": max(low, high), "amount": amount, "kind": kind})
    rows.append({"order": len(rows), "step": "This month", "low": 0.0, "high": float(month["mrr"]), "amount": float(month["mrr"]), "kind": "total"})
    df = pd.DataFrame(rows)
    order = list(df["step"])
    base = alt.Chart(df).encode(x=alt.X("step:N", sort=order, title=None))
    bars = base.mark_bar().encode(
        y=alt.Y("low:Q", title=f"MRR ({currency.upper()})"), y2="high:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=["total", "up", "down"], range=["#4c78a8", "#54a24b", "#e45756"]), legend=None),
        tooltip=["step:N", alt.Tooltip("amount:Q", format=",.2f")],
    )
    return bars + base.mark_text(dy=-8).encode(y="high:Q", text=alt.Text("amount:Q", format=",.0f"))


def render(ctx: PageContext) -> None:
    options = currencies(ctx)
    if not options:
        no_data("Stripe activity")
        return
    currency = currency_filter("stripe-currency", options)

    if SUBSCRIPTIONS in ctx.available:
        st.subheader("MRR and its movements")
        months = data.query(f"select * from tiles.{SUBSCRIPTIONS} where currency = ? order by month_start", (currency,))
        if months.empty:
            no_data("subscriptions")
        else:
            months["net_new"] = (months["new_mrr"] + months["reactivation_mrr"] + months["expansion_mrr"]
                                 - months["contraction_mrr"] - months["churned_mrr"])
            labels = [f"{m:%B %Y}" for m in months["month_start"]]
            picked = st.selectbox("Month", labels[::-1], key="stripe-month")
            month = months.iloc[labels.index(picked)]
            cols = st.columns(4)
            cols[0].metric("MRR", format_value(month["mrr"], "money", currency))
            cols[1].metric("Net new MRR", format_value(month["net_new"], "money", currency))
            cols[2].metric("Active subscribers", format_value(month["active_subscribers"], "count"))
            cols[3].metric("Logo churn", format_value(month["logo_churn_rate"], "ratio"))
            st.altair_chart(waterfall(month, currency), width="stretch")
            table(months.drop(columns=["net_new"]), f"stripe_mrr_{currency}", "stripe-mrr")

    if SUMMARY in ctx.available:
        st.subheader("Money in and out")
        bounds = data.query(f"select min(transaction_date) as first, max(transaction_date) as last from tiles.{SUMMARY} where currency = ?", (currency,))
        if bounds["first"].isna().all():
            no_data(f"{currency.upper()} balance transactions")
        else:
            start, end = date_range("stripe-range", bounds["first"][0], bounds["last"][0])
            days = data.query(f"select * from tiles.{SUMMARY} where currency = ? and transaction_date between ? and ? order by transaction_date",
                              (currency, start, end))
            cols = st.columns(4)
            cols[0].metric("Gross volume", format_value(days["gross_volume"].sum(), "money", currency))
            cols[1].metric("Net", format_value(days["net"].sum(), "money", currency), help="Gross − refunds − dispute losses − Stripe fees.")
            cols[2].metric("Refunds", format_value(days["refunds"].sum(), "money", currency))
            cols[3].metric("Stripe fees", format_value(days["stripe_fees"].sum(), "money", currency))
            st.altair_chart(alt.Chart(days).mark_bar().encode(x=alt.X("transaction_date:T", title=None),
                                                              y=alt.Y("net:Q", title=f"Net ({currency.upper()})"),
                                                              tooltip=["transaction_date:T", "gross_volume:Q", "refunds:Q", "stripe_fees:Q", "net:Q"]),
                            width="stretch")
            table(days, f"stripe_summary_{start}_{end}_{currency}", "stripe-summary")

    if PAYOUTS in ctx.available:
        st.subheader("Payout calendar")
        payouts = data.query(f"select * from tiles.{PAYOUTS} where currency = ? order by arrival_date desc", (currency,))
        upcoming = payouts[payouts["is_upcoming"]]
        if upcoming.empty:
            st.caption("No payout on its way in this currency.")
        else:
            st.metric("On the way", format_value(upcoming["amount"].sum(), "money", currency),
                      help=f"{len(upcoming)} payout(s); next arrives {upcoming['arrival_date'].min():%a %-d %b}.")
        recent = payouts.head(60)
        if not recent.empty:
            st.altair_chart(alt.Chart(recent).mark_circle(size=120).encode(
                x=alt.X("arrival_date:T", title="Arrival"), y=alt.Y("amount:Q", title=f"Amount ({currency.upper()})"),
                color=alt.Color("status:N"), tooltip=["payout_id:N", "arrival_date:T", "amount:Q", "status:N", "failure_message:N"]),
                width="stretch")
        table(payouts, f"stripe_payouts_{currency}", "stripe-payouts")
    else:
        tile_missing(PAYOUTS)

    if DISPUTES in ctx.available:
        st.subheader("Dispute deadlines")
        disputes = data.query(f"select * from tiles.{DISPUTES} where currency = ? order by days_left_for_evidence nulls last, created_date desc",
                              (currency,))
        due = disputes[disputes["days_left_for_evidence"].notna()]
        if due.empty:
            st.caption("No dispute is waiting for evidence in this currency.")
        else:
            due = due.assign(urgency=pd.cut(due["days_left_for_evidence"], [-10_000, -1, 3, 10_000], labels=["overdue", "≤ 3 days", "later"]))
            st.altair_chart(alt.Chart(due).mark_bar().encode(
                x=alt.X("days_left_for_evidence:Q", title="Days left to submit evidence"), y=alt.Y("dispute_id:N", sort="x", title=None),
                color=alt.Color("urgency:N", scale=alt.Scale(domain=["overdue", "≤ 3 days", "later"], range=["#e45756", "#f58518", "#4c78a8"])),
                tooltip=["dispute_id:N", "amount:Q", "reason:N", "evidence_due_at:T"]), width="stretch")
        shown = disputes.drop(columns=["customer_email"], errors="ignore")  # personal data stays out of the page
        table(shown, f"stripe_disputes_{currency}", "stripe-disputes")


PAGE = ProviderPage(
    title="Stripe",
    tiles=(SUBSCRIPTIONS, SUMMARY, PAYOUTS, DISPUTES),
    render=render,
    icon=":material/payments:",
    description="Subscriptions (Stripe's MRR definition), the balance ledger, payouts and disputes, per currency.",
)
