"""Shopify's dashboard page: the sales tile (Shopify's own definitions), per day, one currency at a time."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboard import data
from dashboard.page import PageContext, ProviderPage, currency_filter, date_range, format_value, no_data, table

TILE = "shopify_sales_daily"


def render(ctx: PageContext) -> None:
    bounds = data.query(f"select min(order_date) as first, max(order_date) as last, list(distinct currency) as currencies from tiles.{TILE}")
    if bounds.empty or bounds["first"].isna().all():
        no_data("Shopify sales")
        return
    left, right = st.columns([3, 1])
    with left:
        start, end = date_range("shopify-range", bounds["first"][0], bounds["last"][0])
    with right:
        currency = currency_filter("shopify-currency", list(bounds["currencies"][0]))
    days = data.query(f"select * from tiles.{TILE} where currency = ? and order_date between ? and ? order by order_date",
                      (currency, start, end))
    if days.empty or days["orders_count"].sum() == 0 and days["returns"].sum() == 0:
        no_data("Shopify orders")
        return
    net, orders, value = days["net_sales"].sum(), int(days["orders_count"].sum()), days["order_value"].sum()
    cols = st.columns(4)
    cols[0].metric("Net sales", format_value(net, "money", currency),
                   help="Shopify's net sales: gross sales − discounts − returns; no shipping, taxes or gift cards.")
    cols[1].metric("Orders", format_value(orders, "count"))
    cols[2].metric("Average order value", format_value(value / orders if orders else None, "money", currency),
                   help="Shopify's AOV: (gross sales − discounts) ÷ orders.")
    cols[3].metric("New / returning customers", f"{int(days['new_customers'].sum()):,} / {int(days['returning_customers'].sum()):,}",
                   help="Summed per day: a customer ordering on two days counts on each.")
    st.subheader("Net sales by day")
    st.altair_chart(
        alt.Chart(days).mark_bar().encode(
            x=alt.X("order_date:T", title=None), y=alt.Y("net_sales:Q", title=f"Net sales ({currency})"),
            tooltip=["order_date:T", "orders_count:Q", "gross_sales:Q", "discounts:Q", "returns:Q", "net_sales:Q"],
        ),
        width="stretch",
    )
    customers = days.melt(id_vars=["order_date"], value_vars=["new_customers", "returning_customers"],
                          var_name="customer", value_name="customers")
    st.subheader("New vs returning customers")
    st.altair_chart(
        alt.Chart(customers).mark_bar().encode(
            x=alt.X("order_date:T", title=None), y=alt.Y("customers:Q", stack=True),
            color=alt.Color("customer:N", title=None), tooltip=["order_date:T", "customer:N", "customers:Q"],
        ),
        width="stretch",
    )
    st.subheader("Days")
    table(days, f"shopify_sales_{start}_{end}_{currency}", "shopify-days")


PAGE = ProviderPage(
    title="Shopify",
    tiles=(TILE,),
    render=render,
    icon=":material/storefront:",
    description="Sales as Shopify's reports count them: orders on the day placed, returns on the day refunded.",
)
