"""Page-load time of the dashboard's overview on the medium world, in a real headless Chromium, cold and warm.

    python -m bench.bench_dashboard [--scale medium] [--data-dir DIR] [--warm 5]

Prepares a published copy once (every provider extracted from the sandbox at zero latency, `dbt build`, source
freshness, `publish()`), unless `--data-dir` names a folder that already has `bi.duckdb` (e.g. `data/` after
`make demo`). Then:
- server start: `streamlit run` until it says it is serving;
- cold: the first load of the overview in a fresh server (empty query cache) until its metric cards are drawn
  (first paint of the figures, as a person sees them);
- warm: `--warm` reloads of the same page in the same server (cached queries), best and median;
- every provider page once, warm.
Figures go to stdout; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def provider_pages() -> list[tuple[str, str]]:
    """(provider, page title) of every registered provider with a dashboard page (the dashboard's own navigation)."""
    import importlib

    from pipelines.registry import extraction_providers

    return [(p.name, importlib.import_module(p.dashboard_page).PAGE.title) for p in extraction_providers() if p.dashboard_page]


def prepare(scale: str, data: Path) -> None:
    from pipelines.registry import extraction_providers
    from pipelines.run import run_provider
    from pipelines.transform import publish, run_dbt, source_freshness
    from sandbox.env import client_env
    from sandbox.server import SandboxServer

    os.environ["OPSDATA_DATA_DIR"] = str(data)
    os.environ.setdefault("OPSDATA_FAST_RETRIES", "1")
    os.environ.setdefault("STRIPE_RATE_LIMIT_PER_SECOND", "1000")
    os.environ.setdefault("KLAVIYO_RATE_LIMIT_SCALE", "20")
    with SandboxServer(scale=scale, latency="zero") as server:
        os.environ.update(client_env(server.url))
        server.state.provider_store("klaviyo")["rate_scale"] = 20.0
        started = time.monotonic()
        for provider in extraction_providers():
            run_provider(provider.name)
        as_of = server.world.now.date().isoformat()
        run_dbt("build", "--exclude", "resource_type:test", "resource_type:unit_test", as_of_date=as_of,
                target_path=str(data / "target"))
        source_freshness(as_of_date=as_of)
        publish()
        print(f"prepared {scale} world in {time.monotonic() - started:.0f}s -> {data / 'bi.duckdb'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--warm", type=int, default=5)
    args = parser.parse_args()

    from tests.dashboard.browser import chromium, dashboard_server, wait_for_page

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        data = args.data_dir or Path(tmp) / "data"
        if not (data / "bi.duckdb").exists():
            data.mkdir(parents=True, exist_ok=True)
            prepare(args.scale, data)
        size = (data / "bi.duckdb").stat().st_size
        with chromium(Path(tmp) / "chromium") as browser:
            started = time.monotonic()
            with dashboard_server(data) as url:
                server_start = time.monotonic() - started
                t0 = time.monotonic()
                cards = wait_for_page(browser, url, "Business overview")
                cold = time.monotonic() - t0
                warm = []
                for _ in range(args.warm):
                    t0 = time.monotonic()
                    wait_for_page(browser, url, "Business overview")
                    warm.append(time.monotonic() - t0)
                pages = {}
                for provider, title in provider_pages():
                    wait_for_page(browser, f"{url}/{provider}", title)  # first visit fills its cache
                    t0 = time.monotonic()
                    wait_for_page(browser, f"{url}/{provider}", title)
                    pages[provider] = time.monotonic() - t0
    print(f"\nbi.duckdb: {size / 1e6:.1f} MB ({args.scale} world); overview cards drawn: {len(cards)}")
    print(f"  server start (streamlit run -> serving)   {server_start:6.2f}s")
    print(f"  overview, cold (fresh server, no cache)   {cold:6.2f}s")
    print(f"  overview, warm (best / median of {len(warm)})     {min(warm):6.2f}s / {statistics.median(warm):.2f}s")
    for provider, seconds in pages.items():
        print(f"  {provider + ' page, warm':<40} {seconds:6.2f}s")


if __name__ == "__main__":
    main()
