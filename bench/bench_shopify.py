"""Shopify extraction benchmark: the achieved query-cost rate against the plan's restore rate, the simulator's share of
the CPU, and peak memory, for a full load and incremental loads.

    .venv/bin/python -m bench.bench_shopify [--scale medium] [--plan plus]
    .venv/bin/python -m bench.bench_shopify --scale xlarge --memory-only

Shopify limits query *cost*: a bucket of 20 s of restore that starts full, refilled at the plan's restore rate. So the
bound of a run is the cost beyond the initial bucket at the restore rate, and "at the limit" means the HTTP span
(first to last request the sandbox saw) spends cost at ~1 x the restore rate beyond that bucket. Each run is a fresh
process, as an Airflow task (bench/memory.py `measured_run`), recorded in bench/results/bench_shopify.json: wall =
the whole run, process start and imports included (as bench_stripe's; rows before 2026-12-03 14:00 timed
`run_provider` alone, about 1 s less), bound = (cost - bucket) / restore rate, sandbox CPU = the simulator's CPU seconds / the HTTP span.
`--memory-only`: zero latency and the limit lifted (restore 100,000 points/s; memory depends on neither); no wall
figure, and the bound and sandbox CPU share are those of the `--plan` restore rate for the same cost.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

import requests

from sandbox.env import client_env
from sandbox.shopify import PLANS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="medium")
    # Plus (1,000 points/s): still limit-bound at realistic latency (each orders page costs ~0.3 s of restore, its
    # round trip ~0.15 s), and a large full load takes 15 minutes instead of 75 at Advanced.
    parser.add_argument("--plan", default="plus", choices=sorted(PLANS))
    parser.add_argument("--latency", default="realistic")
    parser.add_argument("--memory-only", action="store_true", help="zero latency, limit lifted: memory figures only")
    parser.add_argument("--advance", type=float, nargs="*", default=[1.0], help="days to advance before each incremental run")
    parser.add_argument("--no-record", action="store_true", help="print only, do not write bench/results")
    args = parser.parse_args()
    latency, plan = ("zero", "enterprise") if args.memory_only else (args.latency, args.plan)
    restore = 100_000.0 if args.memory_only else PLANS[plan]
    options = {"shopify_plan": plan} | ({"shopify_restore_rate": f"{restore:g}"} if args.memory_only else {})
    bucket = restore * 20
    os.environ["OPSDATA_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-shopify-")
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"

    from bench.memory import measured_run
    from bench.report import Row, record, sandbox_cpu_share
    from sandbox.process import sandbox_process

    with sandbox_process(scale=args.scale, latency=latency, options=options) as url:
        os.environ.update(client_env(url))
        print(f"Shopify bench: scale={args.scale}, plan={plan} (restore {restore:.0f} points/s, bucket {bucket:.0f}), latency={latency}")

        def warm_up() -> None:
            """One small query per listing, before the stats are reset: the simulator builds its search records and
            their order per sort key once per world and `now` (`sandbox/shopify/graphql_api.py`, `records`), on the
            first request after a start or an advance; that is neither a page's cost nor the client's."""
            from pipelines.common.config import provider_config
            from pipelines.shopify.helpers import ShopifyClient

            ShopifyClient(provider_config("shopify")).execute(
                "{ customers(first: 1, sortKey: UPDATED_AT) { nodes { id } } orders(first: 1, sortKey: UPDATED_AT) { nodes { id } } }"
            )

        def run(label: str) -> Any:
            warm_up()
            requests.post(f"{url}/_sandbox/stats/reset", timeout=10)
            before = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
            started = time.monotonic()
            summary, memory = measured_run("shopify")  # in a fresh process, as an Airflow task
            wall = time.monotonic() - started
            after = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
            stats = after.get("shopify", {})
            span = max(1e-9, (stats.get("last_at") or 0) - (stats.get("first_at") or 0))
            share = sandbox_cpu_share(before, after, span)
            cost = float(stats.get("extra", {}).get("query_cost", 0))
            earned = max(0.0, cost - bucket)  # the bucket starts full: beyond it, cost is earned at the restore rate
            bound = earned / restore
            rate = earned / span / restore
            throttled = int(stats.get("throttled", 0)) + int(stats.get("by_status", {}).get("429", 0))
            cpu = after["_process"]["cpu_seconds"] - before["_process"]["cpu_seconds"]
            print(f"  {label:11s} {summary.describe()}")
            print(f"  {'':11s} wall {wall:.1f}s (run_provider {summary.seconds:.1f}s), HTTP span {span:.1f}s, {stats.get('requests', 0)} requests, cost {cost:.0f} "
                  f"points -> bound {bound:.1f}s, beyond the initial bucket {rate:.2f} x restore rate; throttled {throttled}; "
                  f"sandbox CPU {cpu:.1f}s = {(share or 0):.1%} of the span; {memory.describe()}")
            if args.memory_only:
                # The span here is what CPU allows; at the plan's real restore rate the same cost takes at least this.
                real_restore = PLANS[args.plan]
                real_bound = max(0.0, cost - real_restore * 20) / real_restore
                row = Row("shopify", args.scale, f"{label} (memory)", bound_s=round(real_bound, 1),
                          requests=int(stats.get("requests", 0)), throttled=throttled, peak_rss_mb=round(memory.peak_mb),
                          sandbox_cpu_share=round(cpu / real_bound, 4) if real_bound else None,
                          note=(f"memory only: zero latency, limit lifted; bound at the {args.plan} plan's "
                                f"{real_restore:.0f} points/s for cost {cost:.0f}; sandbox CPU {cpu:.1f}s, "
                                f"{(share or 0):.0%} of the zero-latency span {span:.1f}s; "
                                f"{summary.total_rows} rows; {memory.describe()}"))
            else:
                row = Row("shopify", args.scale, label, wall_s=round(wall, 1), bound_s=round(bound, 1),
                          requests=int(stats.get("requests", 0)), throttled=throttled, peak_rss_mb=round(memory.peak_mb),
                          sandbox_cpu_share=share,
                          note=(f"plan {plan}, {latency} latency; HTTP span {span:.1f}s at {rate:.2f} x restore rate beyond the "
                                f"initial bucket; cost {cost:.0f}; {summary.total_rows} rows; run_provider "
                                f"{summary.seconds:.1f}s of the wall; {memory.describe()}"))
            if not args.no_record:
                record("bench_shopify", row)
            return summary

        run("full")
        # The fixed cost of a run: a fresh process, imports, state from the raw file, one page per resource.
        run("no-change")
        for days in args.advance:
            requests.post(f"{url}/_sandbox/advance", params={"days": days}, timeout=10).raise_for_status()
            run(f"+{days:g}d")


if __name__ == "__main__":
    main()
