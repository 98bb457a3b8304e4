"""Meta extraction benchmark: full load at `medium` scale with realistic latency, then incremental runs.

Prints, per run, the calls made against the budgets the usage headers report (`X-App-Usage`,
`X-Business-Use-Case-Usage` per use case, `X-Ad-Account-Usage`): the highest percentage seen, throttling errors and
the seconds spent pacing, next to rows loaded and wall time.

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
    args = parser.parse_args()

    os.environ.setdefault("OPSDATA_DATA_DIR", tempfile.mkdtemp(prefix="bench-meta-"))
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    logging.basicConfig(level=logging.WARNING)

    import httpx

    from pipelines.meta.helpers import usage
    from pipelines.run import run_provider
    from sandbox.env import client_env
    from sandbox.process import sandbox_process
    from sandbox.world import World

    with sandbox_process(scale=args.scale, latency=args.latency) as url:
        os.environ.update(client_env(url))
        mw = World(scale=args.scale).extension("meta")
        print(f"world: scale={args.scale} latency={args.latency}: {len(mw.campaigns)} campaigns, {len(mw.ads)} ads, "
              f"{len(mw.posts)} posts/media/stories, {len(mw.people)} people in the audience pool")
        runs = [("full", 0.0)] + [(f"+{d:g} day(s)", d) for d in args.advance]
        for label, days in runs:
            if days:
                httpx.post(f"{url}/_sandbox/advance", params={"days": days}, timeout=30).raise_for_status()
            httpx.post(f"{url}/_sandbox/stats/reset", timeout=30).raise_for_status()
            usage.reset()
            started = time.monotonic()
            summary = run_provider("meta")
            wall = time.monotonic() - started
            server = httpx.get(f"{url}/_sandbox/stats", timeout=30).json().get("meta", {})
            u = usage.summary()
            budgets = ", ".join(f"{k} {v:.0f}%" for k, v in sorted(u["highest_usage_percent"].items()))
            print(f"{label:>12}: {summary.requests} calls ({u['calls'].get('graph', 0)} Graph, {u['calls'].get('ads', 0)} ads) in "
                  f"{wall:.1f}s, {summary.total_rows} rows; highest usage: {budgets}; throttled {sum(u['throttled'].values())}, "
                  f"paced {u['paced_seconds']}s; report runs ok/failed: {server.get('extra', {}).get('async_ok', 0)}/"
                  f"{server.get('extra', {}).get('async_failed', 0)}")


if __name__ == "__main__":
    main()
