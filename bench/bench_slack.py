"""Slack delivery benchmark: a burst of alerts at Slack's real pace, against the sandbox in its own process.

    .venv/bin/python -m bench.bench_slack [--alerts 50] [--processes 5] [--latency realistic]

Fires `--alerts` distinct incidents at once from `--processes` processes (as concurrent Airflow task callbacks
would), routed 4:1 to #alerts and #support, then reads back what the Slack sandbox received. Prints messages
received vs fired, elapsed seconds, messages/s per channel, the smallest gap between two messages in one channel
(Slack allows ~1 per second) and how many 429s Slack had to answer.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import requests

from sandbox.env import client_env
from sandbox.process import sandbox_process

WORKER = """
import sys
from notifications import jobs
from notifications.alerts import Alert
worker, total, workers = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for n in range(worker, total, workers):
    jobs.report_alert(Alert(key=f"bench:{n}", title=f"bench incident {n}", purpose="support" if n % 5 == 0 else "alerts"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--latency", default="realistic")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="bench-slack-")
    with sandbox_process(scale="small", latency=args.latency) as url:
        env = {**os.environ, **client_env(url), "OPSDATA_DATA_DIR": data, "PYTHONPATH": os.getcwd()}
        env.pop("SLACK_MIN_INTERVAL_SECONDS", None)
        print(f"Slack bench: {args.alerts} alerts from {args.processes} processes, latency={args.latency}, pace 1 msg/s/channel")
        started = time.monotonic()
        procs = [
            subprocess.Popen([sys.executable, "-c", WORKER, str(w), str(args.alerts), str(args.processes)], env=env)
            for w in range(args.processes)
        ]
        codes = [p.wait() for p in procs]
        elapsed = time.monotonic() - started
        received = 0
        for channel in ("alerts", "support"):
            messages = requests.get(f"{url}/slack/_sandbox/messages", params={"channel": channel}, timeout=10).json()["messages"]
            received += len(messages)
            times = [m["received_at"] for m in messages]
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            span = (times[-1] - times[0]) if len(times) > 1 else 0.0
            rate = (len(times) - 1) / span if span else 0.0
            print(f"  #{channel}: {len(messages)} messages, {rate:.2f} msg/s, smallest gap {min(gaps, default=0):.3f} s")
        stats = requests.get(f"{url}/_sandbox/stats", timeout=5).json().get("slack", {})
        print(f"  received {received}/{args.alerts} in {elapsed:.1f} s; worker exit codes {codes}; "
              f"429s answered by Slack: {stats.get('by_status', {}).get('429', 0)}")


if __name__ == "__main__":
    main()
