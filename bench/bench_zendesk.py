"""Zendesk extraction benchmark: full load at `medium` scale with realistic latency and the documented limits, then
incremental loads, then a burst of per-ticket SLA checks (the webhook path) against the account limit.

Prints, per limit, the achieved request rate against it (the simulator enforces both with Zendesk's 429s): the
incremental exports' 10 requests/min and the plan's account limit (Enterprise, 700/min), the 429s the server sent,
and how many requests each incremental run needed next to how much changed.

    .venv/bin/python -m bench.bench_zendesk [--scale medium] [--latency realistic] [--advance 1 7] [--checks 1500]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.env import client_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--latency", default="realistic")
    parser.add_argument("--advance", type=float, nargs="*", default=[1.0, 7.0], help="days to advance before each incremental run")
    parser.add_argument("--checks", type=int, default=1500, help="per-ticket SLA checks in the account-limit burst")
    args = parser.parse_args()

    os.environ.setdefault("OPSDATA_DATA_DIR", tempfile.mkdtemp(prefix="bench-zendesk-"))
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    logging.basicConfig(level=logging.WARNING)

    import httpx

    from pipelines.run import run_provider
    from pipelines.zendesk import helpers, settings
    from sandbox.process import sandbox_process
    from sandbox.world import World

    export_limit, account_limit = settings.INCREMENTAL_PER_MINUTE, settings.PLAN_LIMITS_PER_MINUTE["enterprise"]
    sent: list[tuple[float, bool]] = []  # (time, is an incremental export request)
    lock = threading.Lock()
    original = helpers.check_response

    def recording(response):  # type: ignore[no-untyped-def]
        with lock:
            sent.append((time.monotonic(), "/incremental/" in (response.url or "")))
        return original(response)

    helpers.check_response = recording

    def per_minute(times: list[float]) -> float:
        return 60 * (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0

    with sandbox_process(scale=args.scale, latency=args.latency) as url:
        os.environ.update(client_env(url))
        world = World(scale=args.scale)  # the same deterministic world, for counting what changed
        zw = world.extension("zendesk")
        print(f"world: scale={args.scale} latency={args.latency}; limits: incremental exports {export_limit}/min, "
              f"account {account_limit}/min (Enterprise), both enforced by the simulator")
        print(f"       {len(zw.tickets)} tickets, {len(zw.users)} users, {len(zw.metric_events)} metric events (all time)")

        def stats() -> dict:
            return httpx.get(f"{url}/_sandbox/stats").json().get("zendesk", {"requests": 0, "by_status": {}})

        def run(label: str, changed: str = "") -> None:
            httpx.post(f"{url}/_sandbox/stats/reset")
            sent.clear()
            started = time.monotonic()
            summary = run_provider("zendesk")
            seconds = time.monotonic() - started
            s = stats()
            exports = [t for t, inc in sent if inc]
            everything = [t for t, _ in sent]
            print(f"{label:<18} {s['requests']:4d} requests ({len(exports)} exports) in {seconds:6.1f}s; "
                  f"exports {per_minute(exports):5.2f}/min = {per_minute(exports) / export_limit:4.2f} of {export_limit}/min; "
                  f"all {per_minute(everything):6.1f}/min = {per_minute(everything) / account_limit:4.2f} of {account_limit}/min; "
                  f"429s {s['by_status'].get('429', 0)}; rows {summary.total_rows}{changed}")

        run("full load")
        for days in args.advance:
            cut_before = world.now - timedelta(minutes=1)
            world.advance(days)
            httpx.post(f"{url}/_sandbox/advance", params={"days": days})
            cut = world.now - timedelta(minutes=1)
            tickets = sum(1 for t in zw.tickets if t.created_at <= cut and t.updated_at(cut) > cut_before)
            events = sum(1 for e in zw.metric_events if cut_before < e.time <= cut)
            run(f"incremental +{days:g}d", f"; changed {tickets} tickets, {events} metric events")

        # The webhook path at scale: one API read per ticket, eight at a time, paced by the account bucket.
        from pipelines.zendesk.alerts import breach_alerts_for_tickets

        ids = [t.id for t in zw.tickets if t.created_at <= world.now][: args.checks]
        httpx.post(f"{url}/_sandbox/stats/reset")
        sent.clear()
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: breach_alerts_for_tickets([i]), ids))
        seconds = time.monotonic() - started
        s = stats()
        everything = [t for t, _ in sent]
        print(f"{'SLA checks':<18} {s['requests']:4d} requests in {seconds:6.1f}s; {per_minute(everything):6.1f}/min = "
              f"{per_minute(everything) / account_limit:4.2f} of {account_limit}/min; 429s {s['by_status'].get('429', 0)}")


if __name__ == "__main__":
    main()
