"""`make demo` as a benchmark: its step table, with the Airflow overhead split out from the time spent inside tasks.

    python -m bench.bench_demo [--rounds 1] [--scale medium] [--keep]

Runs `scripts/demo.py` exactly as `make demo` does, but with its data folder and Airflow home in a new temporary
folder (`AIRFLOW_HOME_DEMO`, `OPSDATA_DATA_DIR`), so every round is a first run on a fresh clone (fresh metadata DB,
no raw data). The demo writes its step table and every DAG run's task instances (start, end, operator) to
`<logs>/steps.json`; from it:

- work = the union of the intervals in which at least one task instance ran, leaving out Cosmos' watcher sensors
  and gates (they mirror the producer's `dbt build`: orchestration, not work);
- outside Airflow = the waits of the Airflow set-up for things that are not Airflow: the dbt manifest (`dbt parse`)
  and the sandbox (both also run beside the Airflow set-up; only the part the set-up waited for is counted);
- Airflow overhead = demo wall - work - outside Airflow: process start and imports, metadata DB, DAG parsing,
  scheduling, task start and teardown.

Records one row per step and one `demo: total` row into `bench/results/demo.json` (see `bench/report.py`), each with
the machine's load average: on a shared machine the share (overhead / wall) says more than the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import RESULTS, Row, machine, record

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTSIDE_AIRFLOW_STEPS = ("dbt manifest (dbt parse)", "wait for the caller's environment (stdin)")
COSMOS_MIRRORS = ("WatcherSensor", "WatcherOperator")
"""Operator names of Cosmos' watcher consumers (`DbtRunWatcherOperator`, `DbtTestWatcherOperator`...)."""


def _is_work(task: dict[str, Any]) -> bool:
    operator = task.get("operator") or ""
    if "Producer" in operator:
        return True
    return not any(mark in operator for mark in COSMOS_MIRRORS) and not task["task_id"].endswith("producer_watcher_done")


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of [start, end] intervals."""
    total, current = 0.0, None
    for start, end in sorted(intervals):
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    return total + (current[1] - current[0] if current else 0.0)


def split(table: dict[str, Any]) -> dict[str, Any]:
    """Work, outside-Airflow waits and Airflow overhead of one demo run, overall and per DAG run."""
    runs = [e for e in table["events"] if e.get("dag_id")]
    all_work: list[tuple[float, float]] = []
    per_run = []
    for run in runs:
        intervals = [(t["start"], t["end"]) for t in run.get("tasks", []) if t["start"] and t["end"] and _is_work(t)]
        all_work += intervals
        work = union_seconds(intervals)
        per_run.append({"step": run["step"], "wall_s": run["seconds"], "work_s": work,
                        "overhead_s": run["seconds"] - work})
    outside = sum(e["seconds"] for e in table["events"] if e["step"] in OUTSIDE_AIRFLOW_STEPS)
    work = union_seconds(all_work)
    total = table["total_s"]
    return {"total_s": total, "work_s": work, "outside_airflow_s": outside,
            "airflow_overhead_s": total - work - outside, "runs": per_run}


def run_demo(work: Path, scale: str) -> dict[str, Any]:
    env = dict(os.environ)
    env.update({"AIRFLOW_HOME_DEMO": str(work / "airflow_home"), "OPSDATA_DATA_DIR": str(work / "data")})
    out = work / "demo.out"
    with out.open("w") as log:
        proc = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "demo.py"), "--scale", scale], env=env,
                              cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"the demo failed (exit {proc.returncode}); its output: {out}")
    (steps,) = (work / "airflow_home" / "demo").glob("*/steps.json")
    return json.loads(steps.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--keep", action="store_true", help="keep each round's temporary folder")
    parser.add_argument("--steps", type=Path, help="record the table of a demo already run (its `steps.json`, e.g. a "
                        "fresh clone's `make demo`) instead of running one")
    args = parser.parse_args()

    best: tuple[dict[str, Any], dict[str, Any], str] | None = None
    if args.steps:
        table = json.loads(args.steps.read_text())
        best = (table, split(table), table.get("machine") or machine())
    for round_no in range(1, 0 if args.steps else args.rounds + 1):
        work = Path(tempfile.mkdtemp(prefix="bench-demo-"))
        at_start = machine()
        started = time.monotonic()
        try:
            table = run_demo(work, args.scale)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        parts = split(table)
        print(f"round {round_no}: demo {parts['total_s']:.1f}s (process {time.monotonic() - started:.1f}s), "
              f"work {parts['work_s']:.1f}s, outside Airflow {parts['outside_airflow_s']:.1f}s, "
              f"Airflow overhead {parts['airflow_overhead_s']:.1f}s "
              f"({parts['airflow_overhead_s'] / parts['total_s']:.0%}); {at_start}", flush=True)
        if best is None or parts["total_s"] < best[1]["total_s"]:
            best = (table, parts, at_start)
    assert best is not None
    table, parts, at_start = best
    share = parts["airflow_overhead_s"] / parts["total_s"]

    print(f"\n=== make demo ({args.scale}, fresh data and Airflow home, best of {args.rounds}; {at_start})")
    _forget_previous_table(args.scale)
    overhead_by_step = {r["step"]: r for r in parts["runs"]}
    for step in table["steps"]:
        run = overhead_by_step.get(step["name"]) or overhead_by_step.get(_event_name(step["name"]))
        note = f"inside tasks {run['work_s']:.1f}s, airflow overhead {run['overhead_s']:.1f}s" if run else ""
        print(f"  {step['name']:<40} {step['seconds']:7.1f}s  {note}")
        record("demo", Row(provider="all", scale=args.scale, run=f"demo: {step['name']}", wall_s=round(step["seconds"], 1),
                           note=note))
    summary = (f"airflow overhead {parts['airflow_overhead_s']:.1f}s = {share:.0%} of wall; inside tasks "
               f"{parts['work_s']:.1f}s; outside Airflow (dbt parse, sandbox waits) {parts['outside_airflow_s']:.1f}s; "
               f"{at_start}")
    print(f"  {'total':<40} {parts['total_s']:7.1f}s  {summary}")
    record("demo", Row(provider="all", scale=args.scale, run="demo: total", wall_s=round(parts["total_s"], 1), note=summary))


def _forget_previous_table(scale: str) -> None:
    """Drop the last recorded step table of this scale: its steps need not be this run's (`record` replaces rows one
    by one, so a step that no longer exists would linger)."""
    path = RESULTS / "demo.json"
    if path.exists():
        rows = [r for r in json.loads(path.read_text()) if r["scale"] != scale or not r["run"].startswith("demo: ")]
        path.write_text(json.dumps(rows, indent=1) + "\n")


def _event_name(step_name: str) -> str:
    """The demo labels a few runner steps for people (`dag transform (dbt via Cosmos)`); the events keep the id."""
    return step_name.split(" (")[0]


if __name__ == "__main__":
    main()
