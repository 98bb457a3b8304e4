"""Meta extraction benchmark: full load at `medium` scale with realistic latency, then incremental runs.

Runs: the full load; +1 day; a no-change re-run right after it (no world advance: what a run costs when nothing
happened, process start included, as bench_stripe's); then the other advances (+7 days).

Prints, per run, the calls made against the budgets the usage headers report (`X-App-Usage`,
`X-Business-Use-Case-Usage` per use case, `X-Ad-Account-Usage`): the highest percentage seen, throttling errors and
the seconds spent pacing, next to rows loaded and wall time. Each run is a fresh process, as an Airflow task (its peak
RSS per dlt step), and records a row for `bench/REPORT.md` with the simulator's CPU share of the HTTP span. Meta has no
request-count limit to turn into a bound: it throttles on the usage percentages, so the row's bound is left empty.

    .venv/bin/python -m bench.bench_meta [--scale medium] [--latency realistic] [--advance 1 7]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--latency", default="realistic")
    parser.add_argument("--advance", type=float, nargs="*", default=[1.0, 7.0], help="days to advance before each incremental run")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results/bench_meta.json alone")
    parser.add_argument("--memory-only", action="store_true", help="zero latency, usage budgets x100, no incremental runs: "
                        "peak RSS only")
    args = parser.parse_args()

    os.environ.setdefault("OPSDATA_DATA_DIR", tempfile.mkdtemp(prefix="bench-meta-"))
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    logging.basicConfig(level=logging.WARNING)

    import httpx

    from bench.memory import measured_run
    from bench.report import Row, machine, record, sandbox_cpu_share
    from sandbox.env import client_env
    from sandbox.process import sandbox_process
    from sandbox.world import World

    options = {}
    if args.memory_only:
        args.latency, args.advance = "zero", []
        options = {"meta_rate_scale": "100"}
    with sandbox_process(scale=args.scale, latency=args.latency, options=options, startup_seconds=900) as url:
        os.environ.update(client_env(url))
        mw = World(scale=args.scale).extension("meta")
        print(f"world: scale={args.scale} latency={args.latency}: {len(mw.campaigns)} campaigns, {len(mw.ads)} ads, "
              f"{len(mw.posts)} posts/media/stories, {len(mw.people)} people in the audience pool")
        print(f"machine: {machine()}")
        # Warm-up, as bench_zendesk's: the simulator builds its Meta world (every order's and customer's seeded draws)
        # on the first Meta request, once per sandbox; that is not the time of a page, nor the client's.
        import hashlib
        import hmac

        from pipelines.meta.settings import GRAPH_VERSION
        from sandbox.meta import SANDBOX_CREDENTIALS

        token = SANDBOX_CREDENTIALS["access_token"]
        proof = hmac.new(SANDBOX_CREDENTIALS["app_secret"].encode(), token.encode(), hashlib.sha256).hexdigest()
        httpx.get(f"{url}/meta/{GRAPH_VERSION}/{SANDBOX_CREDENTIALS['ad_account_id']}", timeout=900,
                  params={"fields": "name", "access_token": token, "appsecret_proof": proof}).raise_for_status()
        runs = [("full", "full", 0.0)] + [(f"+{d:g} day(s)", f"+{d:g}d", d) for d in args.advance]
        if args.advance:  # right after the first incremental run, with nothing advanced
            runs.insert(2, ("no-change", "no-change", 0.0))
        world_now = mw.world.now.isoformat()
        for label, key, days in runs:
            if days:
                moved = httpx.post(f"{url}/_sandbox/advance", params={"days": days}, timeout=30)
                world_now = moved.raise_for_status().json()["now"]
            # The pipeline's "today" is the simulator's, as in production (and as the demo pins it): on the machine's
            # date the windows would depend on when the benchmark runs (an incremental run re-reading up to today).
            os.environ["OPSDATA_AS_OF_DATE"] = world_now[:10]
            httpx.post(f"{url}/_sandbox/stats/reset", timeout=30).raise_for_status()
            before = httpx.get(f"{url}/_sandbox/stats", timeout=30).json()
            started = time.monotonic()
            # In a fresh process, as an Airflow task; the client's usage counters are read there after the run.
            summary, memory = measured_run("meta", collect="pipelines.meta.helpers:usage.summary")
            wall = time.monotonic() - started
            after = httpx.get(f"{url}/_sandbox/stats", timeout=30).json()
            server = after.get("meta", {})
            span = max(1e-9, (server.get("last_at") or 0) - (server.get("first_at") or 0))
            cpu_share = sandbox_cpu_share(before, after, span)
            u = summary.collected
            budgets = ", ".join(f"{k} {v:.0f}%" for k, v in sorted(u["highest_usage_percent"].items()))
            throttled = sum(u["throttled"].values())
            print(f"{label:>12}: {summary.requests} calls ({u['calls'].get('graph', 0)} Graph, {u['calls'].get('ads', 0)} ads) in "
                  f"{wall:.1f}s, {summary.total_rows} rows; highest usage: {budgets}; throttled {throttled}, "
                  f"paced {u['paced_seconds']}s; report runs ok/failed: {server.get('extra', {}).get('async_ok', 0)}/"
                  f"{server.get('extra', {}).get('async_failed', 0)}; sandbox CPU {cpu_share or 0:.0%} of the "
                  f"{span:.1f}s span; {memory.describe()}", flush=True)
            routes = sorted(server.get("by_route", {}).items(), key=lambda kv: -kv[1])
            print("              by route: " + ", ".join(f"{r} {n}" for r, n in routes), flush=True)
            if args.no_record:
                continue
            record("bench_meta", Row(
                provider="meta", scale=args.scale, run=key + (" (memory)" if args.memory_only else ""),
                wall_s=None if args.memory_only else round(wall, 1),
                requests=server.get("requests"), throttled=throttled, peak_rss_mb=round(memory.peak_mb),
                sandbox_cpu_share=None if cpu_share is None else round(cpu_share, 3),
                note=("memory only: zero latency, usage budgets x100; " if args.memory_only else f"{args.latency} latency; ")
                + f"HTTP span {span:.1f}s; highest usage {budgets}; paced "
                     f"{u['paced_seconds']}s; {summary.total_rows} rows; {memory.describe()}"))

if __name__ == "__main__":
    main()
