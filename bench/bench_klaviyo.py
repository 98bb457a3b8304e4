"""Klaviyo benchmark: requests/s per rate tier against Klaviyo's documented limits, and what an incremental run
costs compared to what changed.

    .venv/bin/python bench/bench_klaviyo.py                      # medium world, realistic latency (50-150 ms)
    .venv/bin/python bench/bench_klaviyo.py --scale large --skip-saturation

The sandbox runs in its own process (as a remote API would: its CPU work does not compete with the client's GIL)
and enforces the real limits (fixed 1 s and 60 s windows per operation). Three parts:
1. tier saturation: one minute's steady allowance of requests per tier, fired from many threads through the real
   client, to show each tier's token bucket (fitted inside both windows) runs it near its steady limit without a 429;
2. a full extraction: per endpoint, requests, the busiest 1 s and 60 s windows against burst/steady, 429s;
3. incremental runs after the world moves 1 and 7 days: rows and requests in proportion to what changed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from sandbox.env import client_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def windows(stamps: list[float]) -> tuple[int, int]:
    """Busiest 1 s and 60 s windows (sliding) among request send times."""
    stamps = sorted(stamps)
    best1 = best60 = j1 = j60 = 0
    for i, t in enumerate(stamps):
        while stamps[j1] <= t - 1:
            j1 += 1
        while stamps[j60] <= t - 60:
            j60 += 1
        best1, best60 = max(best1, i - j1 + 1), max(best60, i - j60 + 1)
    return best1, best60


def server_stats(url: str) -> dict[str, Any]:
    return dict(requests.get(f"{url}/_sandbox/stats", timeout=10).json().get("klaviyo", {}))


def saturate(url: str) -> None:
    from pipelines.common.config import provider_config
    from pipelines.common.http import reset_limiters
    from pipelines.klaviyo import helpers
    from pipelines.klaviyo.settings import TIERS

    reset_limiters()  # start from full buckets, as a fresh worker process would
    config = provider_config("klaviyo")
    client = helpers.make_client(config)
    seg = client.session.get(f"{config.base_url}/api/segments").json()["data"][0]["id"]
    probes = {
        "XS": (f"/api/segments/{seg}", {"additional-fields[segment]": "profile_count"}),
        "S": ("/api/flows", {}),
        "M": ("/api/metrics", {}),
        "L": ("/api/profiles", {"page[size]": "1"}),
        "XL": ("/api/events", {"page[size]": "1"}),
    }
    print(f"{'tier':<5}{'endpoint':<22}{'requests':>9}{'seconds':>9}{'req/s':>8}{'burst':>7}{'used':>7}{'max/1s':>8}{'steady':>8}{'429s':>6}")
    for tier, (path, params) in probes.items():
        limit = TIERS[tier]
        n = limit.steady  # one minute's allowance: paced by the burst limit, never over the steady one
        before = server_stats(url).get("by_status", {}).get("429", 0)
        started = time.time()

        def call(_: int, path: str = path, params: dict[str, str] = params) -> int:
            return int(client.session.get(f"{config.base_url}{path}", params=params).status_code)

        # Enough threads to cover the latency (burst x 150 ms in flight), no more: the client is one process.
        with ThreadPoolExecutor(max_workers=max(2, min(48, int(limit.burst * 0.3) + 2))) as pool:
            codes = list(pool.map(call, range(n)))
        seconds = time.time() - started
        stamps = [t for template, tr, t in helpers.sent_log if tr == tier and t >= started]
        rate = n / seconds
        throttled = server_stats(url).get("by_status", {}).get("429", 0) - before
        label = path.split("?")[0].replace(seg, "{id}")
        print(f"{tier:<5}{label:<22}{n:>9}{seconds:>9.1f}{rate:>8.1f}{limit.burst:>7}{rate / limit.burst:>7.0%}"
              f"{windows(stamps)[0]:>8}{limit.steady:>8}{throttled:>6}")
        assert all(c == 200 for c in codes), codes


def per_endpoint(since: float, url: str) -> None:
    from pipelines.klaviyo import helpers
    from pipelines.klaviyo.settings import TIERS

    by_template: dict[tuple[str, str], list[float]] = defaultdict(list)
    for template, tier, t in helpers.sent_log:
        if t >= since:
            by_template[(template, tier)].append(t)
    print(f"{'endpoint':<42}{'tier':>5}{'requests':>9}{'req/s':>8}{'max/1s':>8}{'burst':>7}{'max/60s':>9}{'steady':>8}")
    for (template, tier), stamps in sorted(by_template.items(), key=lambda kv: -len(kv[1])):
        limit = TIERS[tier]
        span = max(stamps) - min(stamps)
        rate = len(stamps) / span if span > 0 else float(len(stamps))
        m1, m60 = windows(stamps)
        print(f"{template:<42}{tier:>5}{len(stamps):>9}{rate:>8.1f}{m1:>8}{limit.burst:>7}{m60:>9}{limit.steady:>8}")
    print(f"429 responses from the sandbox: {server_stats(url).get('by_status', {}).get('429', 0)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--latency", default="realistic")
    parser.add_argument("--skip-saturation", action="store_true")
    args = parser.parse_args()
    os.environ["OPSDATA_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-klaviyo-")

    from pipelines.common.http import reset_limiters
    from pipelines.run import run_provider
    from sandbox.process import sandbox_process
    from sandbox.world import World

    print(f"Klaviyo bench: scale={args.scale}, latency={args.latency}")
    if not args.skip_saturation:
        print("\n1. tier saturation (real client, real limits, fresh sandbox process)")
        with sandbox_process(scale=args.scale, latency=args.latency) as url:
            os.environ.update(client_env(url))
            saturate(url)

    reset_limiters()
    world = World(scale=args.scale)  # a twin of the sandbox's world, to count what changes
    kw = world.extension("klaviyo")
    with sandbox_process(scale=args.scale, latency=args.latency) as url:
        os.environ.update(client_env(url))
        started = time.time()
        full = run_provider("klaviyo")
        print(f"\n2. full extraction: {full.describe()}")
        per_endpoint(started, url)

        print("\n3. incremental runs (world advanced; merge on id, cursors from the raw file's dlt state)")
        print(f"{'advance':>8}{'new events':>12}{'rows':>8}{'event rows':>12}{'requests':>10}{'seconds':>9}{'rows vs full':>14}")
        for days in (1, 7):
            before = len(kw.visible_events(world.now))
            world.advance(days)
            requests.post(f"{url}/_sandbox/advance", params={"days": days}, timeout=10).raise_for_status()
            changed = len(kw.visible_events(world.now)) - before
            run = run_provider("klaviyo")
            print(f"{days:>7}d{changed:>12}{run.total_rows:>8}{run.rows_extracted.get('events', 0):>12}{run.requests:>10}"
                  f"{run.seconds:>9.1f}{run.total_rows / full.total_rows:>14.1%}")
        print(f"   (full run: {full.total_rows} rows, {full.requests} requests, {full.seconds:.1f}s; list/segment members are "
              "re-read in full by design, events and profiles only as changed)")


if __name__ == "__main__":
    main()
