"""Zendesk extraction benchmark: full load at `medium` scale with realistic latency and the documented limits, then
incremental loads and a no-change re-run, then a burst of per-ticket SLA checks (the webhook path) against the
account limit.

Prints each run's wall against its bound, the shortest time the documented limits allow (the simulator enforces both
with Zendesk's 429s): Zendesk counts fixed one-minute windows, so n exports at 10 a minute cannot finish sooner than
(ceil(n / 10) - 1) minutes after the first, and likewise for the cursor user export's own 20 a minute and for every
request at the plan's account limit (Enterprise, 700/min); a run that fits one window of both has a bound of 0 (the limits cost it nothing). Also the 429s the server
sent, and how many requests each incremental run needed next to how much changed. Each run is a fresh process, as an
Airflow task (its peak RSS per dlt step), and records a row for `bench/REPORT.md` with the simulator's CPU share of
the span. Every run starts in a fresh export window (the bench waits out the previous run's), as runs 15 minutes
apart do.

`--fast-full-load` loads the full history from a first simulator at zero latency with the limits lifted (not
recorded), then runs the incremental and no-change runs against a second one at the chosen latency and the
documented limits (the same seed, so the same world; the saved cursors carry over): the large world's incrementals
without its 36-minute full load.

    .venv/bin/python -m bench.bench_zendesk [--scale medium] [--latency realistic] [--advance 1 7] [--checks 1500]
                                            [--fast-full-load]
"""

from __future__ import annotations

import argparse
import logging
import math
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
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results/bench_zendesk.json alone")
    parser.add_argument("--memory-only", action="store_true", help="zero latency, limits x100, no incremental runs or "
                        "SLA checks: peak RSS at a scale whose exports would take hours at 10/min")
    parser.add_argument("--fast-full-load", action="store_true", help="full load at zero latency with the limits lifted "
                        "(not recorded), then the incremental runs at the documented limits")
    args = parser.parse_args()

    os.environ.setdefault("OPSDATA_DATA_DIR", tempfile.mkdtemp(prefix="bench-zendesk-"))
    options = {}
    if args.memory_only:
        # Client and simulator read the same scale, so the client still paces within the (lifted) limits.
        args.latency, args.advance, args.checks = "zero", [], 0
        os.environ["ZENDESK_RATE_LIMIT_SCALE"] = "100"
        options = {"zendesk_rate_scale": "100"}
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    logging.basicConfig(level=logging.WARNING)

    import httpx

    from bench.memory import measured_run
    from bench.report import Row, machine, record, sandbox_cpu_seconds, sandbox_cpu_share
    from pipelines.zendesk import helpers, settings
    from sandbox.process import sandbox_process
    from sandbox.world import World

    export_limit, account_limit = settings.INCREMENTAL_PER_MINUTE, settings.PLAN_LIMITS_PER_MINUTE["enterprise"]
    users_limit = settings.USERS_CURSOR_PER_MINUTE
    sent: list[tuple[float, bool]] = []  # (time, is an incremental export request)
    lock = threading.Lock()
    original = helpers.check_response

    def recording(response):  # type: ignore[no-untyped-def]
        with lock:
            sent.append((time.monotonic(), "/incremental/" in (response.url or "")))
        return original(response)

    helpers.check_response = recording  # the SLA-check burst below runs in this process

    def per_minute(count: int, seconds: float) -> float:
        return 60 * (count - 1) / seconds if count > 1 and seconds > 0 else 0.0

    def window_bound(count: int, per_minute: int) -> float:
        """The shortest span of `count` requests at `per_minute` counted in fixed one-minute windows."""
        return 60.0 * (math.ceil(count / per_minute) - 1) if count else 0.0

    from sandbox.zendesk import SANDBOX_CREDENTIALS

    def warm_up(url: str) -> None:
        # The simulator builds its Zendesk world and export indexes on the first request; that is not the client's
        # time (at large it took minutes on a busy machine, and every first export page timed out behind it).
        httpx.get(f"{url}/zendesk/api/v2/groups.json", timeout=900,  # the xlarge world takes minutes to build
                  auth=(f"{SANDBOX_CREDENTIALS['email']}/token", SANDBOX_CREDENTIALS["api_token"])).raise_for_status()

    if args.fast_full_load:
        # The full history from a simulator with no latency and lifted limits; the client paces by what its
        # responses report, so it needs no setting of its own for that.
        with sandbox_process(scale=args.scale, latency="zero", options={**options, "zendesk_rate_scale": "100"},
                             startup_seconds=900) as fast_url:
            os.environ.update(client_env(fast_url))
            warm_up(fast_url)
            started = time.monotonic()
            summary, memory = measured_run("zendesk")
            print(f"{'full load (fast)':<18} {summary.total_rows} rows in {time.monotonic() - started:.1f}s at zero latency, "
                  f"limits x100 (not recorded); {memory.describe()}", flush=True)

    with sandbox_process(scale=args.scale, latency=args.latency, options=options, startup_seconds=900) as url:
        os.environ.update(client_env(url))
        world = World(scale=args.scale)  # the same deterministic world, for counting what changed
        zw = world.extension("zendesk")
        print(f"world: scale={args.scale} latency={args.latency}; limits: incremental exports {export_limit}/min, the "
              f"cursor user export {users_limit}/min, account {account_limit}/min (Enterprise), all enforced by the "
              f"simulator in fixed one-minute windows")
        print(f"       {len(zw.tickets)} tickets, {len(zw.users)} users, {len(zw.metric_events)} metric events (all time)")
        print(f"machine: {machine()}")

        def stats() -> dict:
            return httpx.get(f"{url}/_sandbox/stats", timeout=60).json()  # type: ignore[no-any-return]

        last_request_at = [0.0]  # the simulator's clock (time.time) at the previous run's last request

        def run(label: str, key: str, changed: str = "") -> None:
            # Wait out the export window the previous run opened: each run starts in a fresh one, as scheduled runs
            # 15 minutes apart do, so its wall does not depend on what the previous run left of the window.
            time.sleep(max(0.0, last_request_at[0] + 61 - time.time()))
            httpx.post(f"{url}/_sandbox/stats/reset", timeout=60)
            before = stats()
            started = time.monotonic()
            summary, memory = measured_run("zendesk")  # in a fresh process, as an Airflow task
            seconds = time.monotonic() - started
            after = stats()
            s = after.get("zendesk", {"requests": 0, "by_status": {}, "by_route": {}})
            last_request_at[0] = s["last_at"] or time.time()
            # The cursor user export has its own 20 a minute; the other exports share their 10.
            user_exports = s["by_route"].get("incremental_users_cursor", 0)
            exports = sum(n for op, n in s["by_route"].items()
                          if op.startswith("incremental_") and op not in ("incremental_sample", "incremental_users_cursor"))
            span = max(1e-9, (s["last_at"] or 0) - (s["first_at"] or 0))
            # The documented limits as a time, in Zendesk's fixed one-minute windows.
            bound = max(window_bound(exports, export_limit), window_bound(user_exports, users_limit),
                        window_bound(s["requests"], account_limit))
            cpu_share = sandbox_cpu_share(before, after, span)
            throttled = s["by_status"].get("429", 0)
            ratio = f"{seconds / bound:4.2f} x the bound {bound:.0f}s" if bound else "bound 0s (one window)"
            print(f"{label:<18} {s['requests']:4d} requests ({exports} exports, {user_exports} user exports) in {seconds:6.1f}s = {ratio}; "
                  f"HTTP span {span:.1f}s, exports {per_minute(exports, span):5.2f}/min; 429s {throttled}; "
                  f"rows {summary.total_rows}{changed}; sandbox CPU {cpu_share or 0:.0%} of the span; {memory.describe()}",
                  flush=True)
            if args.no_record:
                return
            if args.memory_only:
                key += " (memory)"
            cpu = sandbox_cpu_seconds(before, after)
            memory_note = "memory only: zero latency, limits x100; "
            if args.memory_only and cpu is not None:
                # `bound` is at the documented limits: the shortest span the same requests take there.
                memory_note = (f"memory only: zero latency, limits x100; bound and sandbox CPU at the documented limits; "
                               f"sandbox CPU {cpu:.1f}s, {cpu_share or 0:.0%} of the zero-latency span; ")
                cpu_share = cpu / bound if bound else None
            conditions = f"{args.latency} latency, Enterprise limits; "
            if args.fast_full_load:
                conditions += "after a fast full load (zero latency, limits x100, not recorded); "
            record("bench_zendesk", Row(
                provider="zendesk", scale=args.scale, run=key, wall_s=None if args.memory_only else round(seconds, 1),
                bound_s=round(bound, 1),
                requests=s["requests"], throttled=throttled, peak_rss_mb=round(memory.peak_mb),
                sandbox_cpu_share=None if cpu_share is None else round(cpu_share, 4),
                note=(memory_note if args.memory_only else conditions)
                + f"{exports} exports at {export_limit}/min and {user_exports} user exports at {users_limit}/min in fixed "
                     f"minute windows; HTTP span "
                     f"{span:.1f}s; {summary.total_rows} rows{changed}; {memory.describe()}"))

        warm_up(url)
        if not args.fast_full_load:
            run("full load", "full")
        for i, days in enumerate(args.advance):
            cut_before = world.now - timedelta(minutes=1)
            world.advance(days)
            httpx.post(f"{url}/_sandbox/advance", params={"days": days})
            cut = world.now - timedelta(minutes=1)
            tickets = sum(1 for t in zw.tickets if t.created_at <= cut and t.updated_at(cut) > cut_before)
            events = sum(1 for e in zw.metric_events if cut_before < e.time <= cut)
            run(f"incremental +{days:g}d", f"+{days:g}d", f"; changed {tickets} tickets, {events} metric events")
            if i == 0:
                # Right after an incremental, the world not advanced: the start-up cost (a fresh process, imports,
                # state from the raw file) and one page per export.
                run("no-change re-run", "no-change")

        if not args.checks:
            return
        # The webhook path at scale: one API read per ticket, eight at a time, paced by the account's quota.
        from pipelines.zendesk.alerts import breach_alerts_for_tickets

        ids = [t.id for t in zw.tickets if t.created_at <= world.now][: args.checks]
        httpx.post(f"{url}/_sandbox/stats/reset")
        sent.clear()
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: breach_alerts_for_tickets([i]), ids))
        seconds = time.monotonic() - started
        s = stats()["zendesk"]
        rate = per_minute(len(sent), sent[-1][0] - sent[0][0]) if sent else 0.0
        print(f"{'SLA checks':<18} {s['requests']:4d} requests in {seconds:6.1f}s; {rate:6.1f}/min = "
              f"{rate / account_limit:4.2f} of {account_limit}/min (bound {window_bound(s['requests'], account_limit):.0f}s "
              f"in fixed windows); 429s {s['by_status'].get('429', 0)}")


if __name__ == "__main__":
    main()
