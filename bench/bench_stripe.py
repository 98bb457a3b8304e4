"""Stripe extraction benchmark: full load at `medium` scale with realistic latency, then incremental loads.

Prints requests per second against the configured rate limit (the simulator enforces the same limit with Stripe's
429) and how many requests each incremental run needed next to how many objects changed.

    .venv/bin/python -m bench.bench_stripe [--scale medium] [--latency realistic] [--limit 25] [--no-record]

Each run's figures are recorded in bench/results/bench_stripe.json (`bench.report`: wall, the rate-limit bound
requests / limit, 429s, peak RSS, the simulator's CPU share of the HTTP span), replacing that scale's earlier rows.

Each run is a fresh process (as an Airflow task) and reports its peak resident memory per dlt step (bench/memory.py).
Memory does not depend on latency or the limit, so `--latency zero --limit 1000 --advance --skip-reconcile` measures it quickly.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from sandbox.env import client_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--latency", default="realistic")
    parser.add_argument("--limit", type=float, default=25.0, help="account rate limit (25 test mode, 100 live)")
    parser.add_argument(
        "--advance", type=float, nargs="*", default=[1.0, 7.0], help="days to advance before each incremental run"
    )
    parser.add_argument("--skip-reconcile", action="store_true", help="no nightly reconcile run at the end")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results/bench_stripe.json alone")
    parser.add_argument("--note", default="", help="added to each recorded row's note")
    args = parser.parse_args()

    os.environ.setdefault("OPSDATA_DATA_DIR", tempfile.mkdtemp(prefix="bench-stripe-"))
    os.environ["STRIPE_RATE_LIMIT_PER_SECOND"] = str(args.limit)
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    logging.basicConfig(level=logging.WARNING)

    import httpx

    from bench.memory import measured_run
    from bench.report import Row, machine, record, sandbox_cpu_share
    from sandbox.process import sandbox_process
    from sandbox.world import World

    # The simulator runs in its own process, as in the demo: in-process it would share our GIL and slow us down.
    options = {"stripe_rate_limit": f"{args.limit:g}"}
    with sandbox_process(scale=args.scale, latency=args.latency, options=options) as url:
        os.environ.update(client_env(url))
        world = World(scale=args.scale)  # the same deterministic world, for counting what changed
        sw = world.extension("stripe")
        print(
            f"world: scale={args.scale} latency={args.latency} limit={args.limit:g} req/s (enforced by the simulator)"
        )
        print(
            f"       {len(sw.customers)} customers, {len(sw.subscriptions)} subscriptions, {len(sw.invoices)} invoices, "
            f"{len(sw.charges)} charges, {len(sw.balance_transactions)} balance transactions, {len(sw.events)} events (all time)"
        )

        def stats() -> dict:
            return httpx.get(f"{url}/_sandbox/stats").json()  # type: ignore[no-any-return]

        realistic = args.latency == "realistic" and args.limit == 25
        conditions = f"latency {args.latency}, limit {args.limit:g}/s" + ("" if realistic else " (memory only)")
        print(f"machine: {machine()}")

        def run(label: str, key: str, changed: int | None = None, **options: object) -> None:
            httpx.post(f"{url}/_sandbox/stats/reset")
            before = stats()
            started = time.monotonic()
            summary, memory = measured_run("stripe", **options)  # in a fresh process, as an Airflow task
            seconds = time.monotonic() - started
            after = stats()
            s = after.get("stripe", {"requests": 0, "by_status": {}})
            requests, throttled = s["requests"], s["by_status"].get("429", 0)
            # Request rate over the extraction phase only (dlt's normalize/load into DuckDB sends no requests).
            span = max(1e-9, (s["last_at"] or 0) - (s["first_at"] or 0))
            rate = requests / span
            cpu_share = sandbox_cpu_share(before, after, span)
            line = (
                f"{label:<22} {requests:5d} requests, extraction {span:5.1f}s ({rate:5.1f} req/s = {rate / args.limit:4.2f} "
                f"of the limit), run {seconds:5.1f}s = {seconds / max(1e-9, requests / args.limit):4.2f} x the bound; "
                f"429s {throttled} (retried, none surfaced); rows {summary.total_rows}; "
                f"sandbox CPU {cpu_share or 0:.0%} of the span"
            )
            if changed is not None:
                line += f"; {changed} objects changed -> {requests / max(1, changed):.2f} requests per changed object"
            print(f"{line}; {memory.describe()}", flush=True)
            if args.no_record:
                return
            note = f"{conditions}; HTTP span {span:.1f}s; {memory.describe()}"
            if changed is not None:
                note += f"; {changed} objects changed"
            record(
                "bench_stripe",
                Row(
                    provider="stripe",
                    scale=args.scale,
                    run=key,
                    wall_s=round(seconds, 1),
                    bound_s=round(requests / args.limit, 1),
                    requests=requests,
                    throttled=throttled,
                    peak_rss_mb=round(memory.peak_mb),
                    sandbox_cpu_share=None if cpu_share is None else round(cpu_share, 3),
                    note="; ".join(x for x in (note, args.note) if x),
                ),
            )

        # Warm-up: the simulator builds its Stripe world on the first request; that is not the client's time.
        from sandbox.stripe import SANDBOX_CREDENTIALS

        httpx.get(
            f"{url}/stripe/v1/account",
            headers={"Authorization": f"Bearer {SANDBOX_CREDENTIALS['api_key']}"},
            timeout=900,  # the xlarge world takes minutes to build
        )
        run("full load", "full")
        # The start-up cost: a fresh process, imports, state from the raw file, 1 request per list.
        run("no-change re-run", "no-change")
        for days in args.advance:
            start = sw.now
            world.advance(days)
            httpx.post(f"{url}/_sandbox/advance", params={"days": days})
            changed = len({(e.kind, e.object_id) for e in sw.events if start < e.created <= sw.now})
            run(f"incremental +{days:g}d", f"+{days:g}d", changed=changed)
        if not args.skip_reconcile:
            run("reconcile (nightly)", "reconcile", mode="reconcile")


if __name__ == "__main__":
    main()
