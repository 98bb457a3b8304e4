"""Shopify extraction benchmark: medium world, realistic latency, a limit-bound plan.

    .venv/bin/python -m bench.bench_shopify [--scale medium] [--plan standard]

Prints rows/s, requests/s, and the achieved query-cost rate against the plan's documented restore rate (the limit
Shopify enforces), for a full load and for an incremental load after the world advances one day.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import requests

from sandbox.env import client_env
from sandbox.process import sandbox_process
from sandbox.shopify import PLANS


def _stats(url: str) -> dict:
    return requests.get(f"{url}/_sandbox/stats", timeout=5).json().get("shopify", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--plan", default="advanced", choices=sorted(PLANS))
    parser.add_argument("--latency", default="realistic")
    args = parser.parse_args()
    restore = PLANS[args.plan]
    bucket = restore * 20
    os.environ["OPSDATA_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-shopify-")
    with sandbox_process(scale=args.scale, latency=args.latency, options={"shopify_plan": args.plan}) as url:
        os.environ.update(client_env(url))
        from pipelines.run import run_provider

        print(f"Shopify bench: scale={args.scale}, plan={args.plan} (restore {restore:.0f} points/s, bucket {bucket:.0f}), latency={args.latency}")
        for label in ("full", "incremental"):
            if label == "incremental":
                requests.post(f"{url}/_sandbox/advance", params={"days": 1}, timeout=5)
            requests.post(f"{url}/_sandbox/stats/reset", timeout=5)
            started = time.monotonic()
            summary = run_provider("shopify")
            elapsed = time.monotonic() - started
            stats = _stats(url)
            cost = stats.get("extra", {}).get("query_cost", 0)
            rows = summary.rows_extracted.get("customers", 0) + summary.rows_extracted.get("orders", 0)
            # The bucket starts full: cost beyond the initial bucket had to be earned at the restore rate.
            steady = max(0.0, cost - bucket) / elapsed
            print(
                f"  {label:11s} {elapsed:6.1f}s  records={rows:6d} ({rows / elapsed:7.1f}/s)  requests={stats.get('requests', 0):4d} "
                f"({stats.get('requests', 0) / elapsed:5.2f}/s)  throttled={stats.get('throttled', 0)}  cost={cost:7.0f} points "
                f"-> {cost / elapsed:6.1f} points/s = {cost / elapsed / restore:4.2f} x restore rate "
                f"(beyond the initial bucket: {steady / restore:4.2f} x)"
            )


if __name__ == "__main__":
    main()
