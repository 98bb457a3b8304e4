"""What a provider page is (the contract its module exposes as `PAGE`), and the pieces every page shares: the
freshness line, empty states that explain, date-range and currency filters, sortable tables with CSV download.

A provider page module (`dashboard/providers/<p>.py`, named by the provider's registry entry `dashboard_page`)
declares `PAGE = ProviderPage(title=..., tiles=(...), render=...)`. The app checks the type when it loads the page.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from notifications.blocks import money

from . import data


@dataclass(frozen=True)
class ProviderPage:
    """A provider's dashboard page. `render` draws the page body once its tiles are known to be published."""

    title: str
    tiles: tuple[str, ...]
    """The tile tables (schema `tiles`) the page reads; if none is published the page explains instead of failing."""
    render: Callable[[PageContext], None]
    icon: str = ":material/dashboard:"
    description: str = ""


@dataclass
class PageContext:
    provider: str
    """Registry name (also the page's URL path)."""
    title: str
    tiles: tuple[str, ...] = ()
    available: set[str] = field(default_factory=set)
    """The page's tiles that are published."""


class PageContractError(TypeError):
    pass


def load_page(module_name: str) -> ProviderPage:
    """Import a provider's page module and check it exposes a `ProviderPage` named `PAGE`."""
    module = importlib.import_module(module_name)
    page = getattr(module, "PAGE", None)
    if not isinstance(page, ProviderPage):
        raise PageContractError(f"{module_name} must define PAGE = dashboard.page.ProviderPage(...), found {type(page).__name__}")
    if not page.tiles or not callable(page.render):
        raise PageContractError(f"{module_name}: PAGE needs its tiles and a render function")
    return page


# --- formatting (shared with the browser tests, which compare what a page shows with the tiles) ---------------------
def format_value(value: Any, unit: str, currency: str | None = None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return "n/a"
    if unit == "money":
        return money(value, currency)
    if unit == "count":
        return f"{int(round(float(value))):,}"
    if unit == "ratio":
        return f"{float(value) * 100:.1f}%"
    if unit == "per_100":
        return f"{float(value):.1f}"
    return str(value)


def format_delta(value: Any, previous: Any) -> str | None:
    if value is None or previous is None or pd.isna(value) or pd.isna(previous):
        return None
    if float(previous) == 0:
        return None if float(value) == 0 else "up from 0"
    change = (float(value) - float(previous)) / abs(float(previous))
    return f"{change * 100:+.1f}%"


# --- shared widgets --------------------------------------------------------------------------------------------
def freshness_line(provider: str) -> None:
    fresh = data.freshness(provider)
    text = fresh.describe()
    if fresh.status in (None, "pass"):
        st.caption(f":material/schedule: {text}")
    else:
        st.warning(text, icon=":material/schedule:")


def not_configured(ctx: PageContext, how_to_configure: str) -> None:
    st.info(
        f"**{ctx.title} is not set up yet**, or its tiles have not been published: none of "
        f"{', '.join(f'`tiles.{t}`' for t in ctx.tiles)} is in the published copy.\n\n"
        f"To set it up: {how_to_configure}. The next extraction and transform publish its tiles here.",
        icon=":material/info:",
    )


def no_data(what: str) -> None:
    st.info(f"No {what} in the selected range. Widen the date range or pick another currency.", icon=":material/filter_alt:")


def tile_missing(table: str) -> None:
    st.info(f"`tiles.{table}` is not published yet: it appears after the next successful transform.", icon=":material/info:")


def date_range(key: str, first: date, last: date, default_days: int = 30) -> tuple[date, date]:
    """A date-range filter (inclusive), defaulting to the last `default_days` days that have data."""
    start_default = max(first, last - timedelta(days=default_days - 1))
    picked = st.date_input("Date range", value=(start_default, last), min_value=first, max_value=last, key=key)
    values = list(picked) if isinstance(picked, (tuple, list)) else [picked]
    first_picked = values[0] or start_default
    last_picked = values[-1] or first_picked
    return first_picked, last_picked


def currency_filter(key: str, currencies: Sequence[str]) -> str:
    """One currency at a time: money is never summed across currencies."""
    options = sorted({str(c) for c in currencies}, key=lambda c: (c.upper() != "USD", c.upper()))
    if len(options) == 1:
        st.caption(f"Currency: {options[0].upper()}")
        return options[0]
    return str(st.selectbox("Currency", options, key=key, format_func=str.upper, help="Amounts are never added across currencies."))


def table(df: pd.DataFrame, name: str, key: str, **kwargs: Any) -> None:
    """A sortable table (click a column header) with a CSV download of exactly what is shown."""
    st.dataframe(df, hide_index=True, width="stretch", **kwargs)
    st.download_button(f"Download {name} (CSV)", df.to_csv(index=False).encode(), file_name=f"{name}.csv",
                       mime="text/csv", key=f"download-{key}", icon=":material/download:")
