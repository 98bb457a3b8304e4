"""The ops dashboard: `make dashboard` (or `streamlit run dashboard/app.py`).

Navigation comes from the registry, never from a list here: the overview first, then one page per registered
provider that declares a `dashboard_page` (its own module, `dashboard/providers/<p>.py`). Everything is read from the
published read-only copy `data/bi.duckdb` (see `dashboard/data.py`).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # `streamlit run dashboard/app.py` runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st

from dashboard import data
from dashboard.page import PageContext, ProviderPage, freshness_line, load_page, not_configured, tile_missing


@dataclass(frozen=True)
class RegisteredPage:
    provider: str
    page: ProviderPage
    how_to_configure: str


def registered_pages() -> list[RegisteredPage]:
    """Every registered provider's dashboard page, in registry order."""
    from pipelines.registry import extraction_providers

    return [RegisteredPage(p.name, load_page(p.dashboard_page), p.how_to_configure())
            for p in extraction_providers() if p.dashboard_page is not None]


def render_provider(entry: RegisteredPage) -> None:
    page = entry.page
    st.title(page.title)
    if page.description:
        st.caption(page.description)
    available = {t for t in page.tiles if data.has(f"tiles.{t}")}
    ctx = PageContext(entry.provider, page.title, page.tiles, available)
    if data.snapshot_version() is None:
        st.info("Nothing is published yet: run the pipelines (`make demo`, or the Airflow DAGs) so that "
                "`data/bi.duckdb` exists.", icon=":material/info:")
        return
    freshness_line(entry.provider)
    if not available:
        not_configured(ctx, entry.how_to_configure)
        return
    for missing in (t for t in page.tiles if t not in available):
        tile_missing(missing)
    try:
        page.render(ctx)
    except Exception as exc:  # an explanation, never a stack trace, for the person reading the page
        st.error(f"This page could not be drawn from the published tiles ({type(exc).__name__}). The data team has "
                 "the details in the dashboard's log.", icon=":material/error:")
        print(f"dashboard page {entry.provider} failed: {exc!r}", file=sys.stderr)


def main() -> None:
    st.set_page_config(page_title="Ops dashboard", page_icon=":material/monitoring:", layout="wide")
    from dashboard.overview import render_overview

    provider_pages = {
        entry.provider: st.Page(functools.partial(render_provider, entry), title=entry.page.title,
                                icon=entry.page.icon, url_path=entry.provider)
        for entry in registered_pages()
    }
    overview = st.Page(functools.partial(render_overview, provider_pages), title="Overview",
                       icon=":material/space_dashboard:", url_path="overview", default=True)
    st.navigation([overview, *provider_pages.values()]).run()


if __name__ == "__main__":
    main()
