"""The overview page: `tiles.business_overview`, the same figures the digest and any BI tool read.

One card per metric and currency, each against the previous period and linking to the page that explains it.
Figures of providers not set up yet (Zendesk, Meta) show their reason instead of a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.page import format_delta, format_value

PERIODS = {7: "Last 7 days", 30: "Last 30 days", 1: "Last day"}
COMPARED = {"previous_period": "vs previous {n} days", "previous_month": "vs the month before", "none": "now"}
PROVIDER_TITLES = {"shopify": "Shopify", "stripe": "Stripe", "klaviyo": "Klaviyo", "meta": "Meta Ads", "zendesk": "Zendesk"}


def overview_rows(period_days: int) -> pd.DataFrame:
    return data.query(
        "select * from tiles.business_overview where period_days = ? "
        "order by sort_order, currency is distinct from 'USD', currency nulls first",
        (period_days,),
    )


def render_overview(pages: Mapping[str, Any]) -> None:
    """`pages`: provider -> its StreamlitPage (the cards link to it)."""
    st.title("Business overview")
    if data.snapshot_version() is None:
        st.info("Nothing is published yet: run the pipelines (`make demo`, or the Airflow DAGs) so that "
                "`data/bi.duckdb` exists.", icon=":material/info:")
        return
    if not data.has("tiles.business_overview", "metric", "value", "previous_value"):
        st.info("`tiles.business_overview` is not published yet: it appears after the next successful transform.",
                icon=":material/info:")
        return
    days = st.segmented_control("Period", list(PERIODS), default=7, format_func=lambda d: PERIODS[d], key="overview-period") or 7
    rows = overview_rows(int(days))
    if rows.empty:
        st.info("No figures for this period yet.")
        return
    first = rows.iloc[0]
    st.caption(f"{first['period_start']:%a %-d %b} – {first['period_end']:%a %-d %b %Y} (UTC), compared with "
               f"{first['previous_start']:%-d %b} – {first['previous_end']:%-d %b}. Money is shown per currency, never added up.")
    for provider, group in rows.groupby("provider", sort=False):
        title = PROVIDER_TITLES.get(str(provider), str(provider).title())
        st.subheader(title)
        if provider in pages:
            st.page_link(pages[str(provider)], label=f"Open the {title} page", icon=":material/arrow_forward:")
        else:
            st.caption(f"{title} has no page yet: its provider is not registered.")
        cards = list(group.itertuples(index=False))
        multi = {m for m, n in group.groupby("metric")["currency"].nunique().items() if n > 1}
        for start in range(0, len(cards), 4):
            columns = st.columns(4)
            for column, row in zip(columns, cards[start:start + 4], strict=False):
                with column:
                    card(row, int(days), row.metric in multi)


def card(row: object, days: int, several_currencies: bool = False) -> None:
    """One metric. Counts name their currency only when the metric has several (money shows it in the amount)."""
    label = str(row.metric_label) + (f" ({row.currency})" if several_currencies and row.unit != "money" else "")  # type: ignore[attr-defined]
    if not row.is_available:  # type: ignore[attr-defined]
        with st.container(border=True, key=f"card-{row.metric}-{row.currency}"):  # type: ignore[attr-defined]
            st.markdown(f"**{label}**")
            st.caption(f":material/hourglass_empty: {row.unavailable_reason}")  # type: ignore[attr-defined]
        return
    value = format_value(row.value, str(row.unit), row.currency)  # type: ignore[attr-defined]
    delta = format_delta(row.value, row.previous_value)  # type: ignore[attr-defined]
    compared = COMPARED.get(str(row.comparison), "").format(n=days)  # type: ignore[attr-defined]
    helper = row.detail if isinstance(row.detail, str) else None  # type: ignore[attr-defined]
    with st.container(border=True, key=f"card-{row.metric}-{row.currency}"):  # type: ignore[attr-defined]
        st.metric(label, value, delta=f"{delta} {compared}" if delta else None, help=helper,
                  delta_color="inverse" if row.metric in INVERSE else "normal")  # type: ignore[attr-defined]
        if not delta:
            no_previous = row.previous_value is None or pd.isna(row.previous_value)  # type: ignore[attr-defined]
            st.caption(compared if row.comparison == "none" else f"{compared}: {'no previous figure' if no_previous else 'no change'}")  # type: ignore[attr-defined]


INVERSE = {"open_disputes", "open_disputes_amount", "disputes_opened", "new_customer_acquisition_cost",
           "support_tickets_per_100_orders", "sla_breach_rate"}
"""Metrics where up is bad (shown red when they rise)."""
