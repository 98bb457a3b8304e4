"""Klaviyo benchmark: a full extraction against the per-tier rate-limit bound, the simulator's share of the CPU,
peak memory, and what incremental runs cost.

    .venv/bin/python -m bench.bench_klaviyo                        # medium world, realistic latency (50-150 ms)
    .venv/bin/python -m bench.bench_klaviyo --scale large
    .venv/bin/python -m bench.bench_klaviyo --scale xlarge --memory-only
    .venv/bin/python -m bench.bench_klaviyo --saturation           # also: each tier's bucket against its limits

The sandbox runs in its own process (as a remote API would: its CPU work does not compete with the client's GIL)
and enforces the real limits (fixed 1 s and 60 s windows per operation). Each run is a fresh process, as an Airflow
task (bench/memory.py `measured_run`), and is recorded in bench/results/bench_klaviyo.json:
- wall: the whole run (start, extract, normalize, load); bound: per tier, the time from its first request to its
  last when each is sent as early as both windows allow (at most the burst in any second and the steady limit in any
  minute: `window_bound`), the slowest tier (tiers are separate limits and the resources page them in parallel). It
  was each tier's requests at the steady rate, which is 16 s for the XS tier's 4 calls where the windows allow 3;
- runs: the full load, a no-change re-run right after it (no world advance: process start, the snapshots and the XS
  tier's profile counts), then one incremental run per `--advance`;
- sandbox CPU: the simulator's CPU seconds during the run / the HTTP span (first to last request the sandbox saw).
`--memory-only`: zero latency and every limit lifted x100 (memory does not depend on either); no wall/bound figures.
Optional `--saturation`: one minute's steady allowance per tier through the real client, without a 429.
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


def per_endpoint(by_route: dict[str, int]) -> None:
    from sandbox.klaviyo import LIMITS

    print(f"{'operation':<42}{'requests':>9}{'burst/s':>9}{'steady/min':>11}")
    for op, n in sorted(by_route.items(), key=lambda kv: -kv[1]):
        burst, steady = LIMITS.get(op, ("?", "?"))
        print(f"{op:<42}{n:>9}{burst:>9}{steady:>11}")


def window_bound(n: int, burst: int, steady: int) -> float:
    """Seconds from the first to the last of `n` requests sent each as early as the limits allow (at most `burst` in
    any 1 s and `steady` in any 60 s): the least any client can take, wherever the provider's fixed windows start."""
    sends: list[float] = []
    for i in range(n):
        at = sends[-1] if sends else 0.0
        if i >= burst:
            at = max(at, sends[i - burst] + 1.0)
        if i >= steady:
            at = max(at, sends[i - steady] + 60.0)
        sends.append(at)
    return sends[-1] if sends else 0.0


def _per_tier(by_route: dict[str, int]) -> dict[str, int]:
    from pipelines.klaviyo.settings import TIERS
    from sandbox.klaviyo import LIMITS

    per_tier: dict[str, int] = defaultdict(int)
    names = {(t.burst, t.steady): t.name for t in TIERS.values()}
    for op, n in by_route.items():
        if op in LIMITS:
            per_tier[names[LIMITS[op]]] += n
    return per_tier


def steady_bound(by_route: dict[str, int]) -> float:
    """The bound this bench used to report: the slowest tier's requests at its steady rate (a minute's limit / 60)."""
    from pipelines.klaviyo.settings import TIERS

    return max((n / (TIERS[tier].steady / 60) for tier, n in _per_tier(by_route).items()), default=0.0)


def tier_bound(by_route: dict[str, int]) -> tuple[float, str]:
    """(seconds, tier) of the slowest tier: its requests as `window_bound` sends them at its documented limits."""
    from pipelines.klaviyo.settings import TIERS

    per_tier = _per_tier(by_route)
    bounds = {tier: window_bound(n, TIERS[tier].burst, TIERS[tier].steady) for tier, n in per_tier.items()}
    if not bounds:
        return 0.0, "no requests"
    tier = max(bounds, key=lambda t: (bounds[t], per_tier[t] / TIERS[t].burst))
    return bounds[tier], f"{tier} {per_tier[tier]} req"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--latency", default="realistic")
    parser.add_argument("--memory-only", action="store_true", help="zero latency, limits lifted x100: memory figures only")
    parser.add_argument("--saturation", action="store_true", help="first saturate each tier through the real client")
    parser.add_argument("--advance", type=float, nargs="*", default=[1.0, 7.0], help="days to advance before each incremental run")
    parser.add_argument("--no-record", action="store_true", help="print only, do not write bench/results")
    args = parser.parse_args()
    os.environ["OPSDATA_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-klaviyo-")

    from bench.memory import measured_run
    from bench.report import Row, record, sandbox_cpu_share
    from pipelines.common.http import reset_limiters
    from sandbox.klaviyo import SANDBOX_CREDENTIALS
    from sandbox.process import sandbox_process

    options, latency = {}, args.latency
    if args.memory_only:
        latency, options = "zero", {"klaviyo_rate_scale": "100"}
        os.environ["KLAVIYO_RATE_LIMIT_SCALE"] = "100"
    print(f"Klaviyo bench: scale={args.scale}, latency={latency}{', limits x100 (memory only)' if args.memory_only else ''}")
    if args.saturation:
        print("\n1. tier saturation (real client, real limits, fresh sandbox process)")
        with sandbox_process(scale=args.scale, latency=latency, options=options) as url:
            os.environ.update(client_env(url))
            saturate(url)

    reset_limiters()
    with sandbox_process(scale=args.scale, latency=latency, options=options, startup_seconds=900) as url:
        os.environ.update(client_env(url))
        # The simulator builds its Klaviyo world on the first request, and its event index on the first events page;
        # neither is the client's time.
        auth = {"Authorization": f"Klaviyo-API-Key {SANDBOX_CREDENTIALS['api_key']}", "revision": "2026-07-15"}
        for path in ("/api/metrics", "/api/events?page[size]=1"):
            requests.get(f"{url}/klaviyo{path}", headers=auth, timeout=900).raise_for_status()

        last_start = [float("-inf")]

        def run(label: str) -> Any:
            # Klaviyo counts the XS tier (profile counts: 4 a run) per account, 15 a minute, across processes: runs
            # back to back would share a minute that hourly runs never do (the fourth got a 429 and waited 24 s).
            # So each run starts a minute after the last one started, before any of its requests.
            time.sleep(max(0.0, last_start[0] + 61.0 - time.monotonic()))
            last_start[0] = time.monotonic()
            requests.post(f"{url}/_sandbox/stats/reset", timeout=10)
            before = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
            summary, memory = measured_run("klaviyo")
            after = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
            stats = after.get("klaviyo", {})
            span = (stats.get("last_at") or 0) - (stats.get("first_at") or 0)
            share = sandbox_cpu_share(before, after, span)
            by_route = dict(stats.get("by_route", {}))
            bound, slowest = tier_bound(by_route)
            steady = steady_bound(by_route)
            throttled = int(stats.get("by_status", {}).get("429", 0))
            cpu = after["_process"]["cpu_seconds"] - before["_process"]["cpu_seconds"]
            print(f"\n{label}: {summary.describe()}")
            print(f"  wall {summary.seconds:.1f}s, HTTP span {span:.1f}s, per-tier bound {bound:.1f}s ({slowest}) -> "
                  f"wall/bound {summary.seconds / bound if bound else float('inf'):.2f}; steady-rate bound {steady:.1f}s; 429s {throttled}; sandbox CPU {cpu:.1f}s = "
                  f"{(share or 0):.1%} of the span; {memory.describe()}")
            if label == "full":
                per_endpoint(by_route)
            note = (f"{latency} latency; HTTP span {span:.1f}s; slowest tier {slowest} (the earlier bound, requests at the "
                    f"steady rate: {steady:.1f}s); {summary.total_rows} rows; "
                    f"{memory.describe()}")
            if args.memory_only:
                # As Shopify's and Zendesk's memory rows: the zero-latency span is only what two processes' CPU allow;
                # at the documented limits the same requests take at least `bound`, the simulator's CPU is set against it.
                row = Row("klaviyo", args.scale, f"{label} (memory)", bound_s=round(bound, 1),
                          requests=int(stats.get("requests", 0)), throttled=throttled,
                          peak_rss_mb=round(memory.peak_mb), sandbox_cpu_share=round(cpu / bound, 4) if bound else None,
                          note=(f"memory only: zero latency, limits x100; bound at the documented limits ({slowest}); "
                                f"sandbox CPU {cpu:.1f}s, {(share or 0):.0%} of the zero-latency span {span:.1f}s; "
                                f"{summary.total_rows} rows; {memory.describe()}"))
            else:
                row = Row("klaviyo", args.scale, label, wall_s=round(summary.seconds, 1), bound_s=round(bound, 1),
                          requests=int(stats.get("requests", 0)), throttled=throttled, peak_rss_mb=round(memory.peak_mb),
                          sandbox_cpu_share=share, note=note)
            if not args.no_record:
                record("bench_klaviyo", row)
            return summary

        full = run("full")
        run("no-change")  # the start-up cost of an incremental run: nothing changed since the last
        for days in args.advance:
            requests.post(f"{url}/_sandbox/advance", params={"days": days}, timeout=10).raise_for_status()
            inc = run(f"+{days:g}d")
            print(f"  rows vs full {inc.total_rows / max(1, full.total_rows):.1%}")


if __name__ == "__main__":
    main()
