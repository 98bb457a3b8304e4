"""The benchmark report: one table over every benchmark's latest figures (`make bench` ends with it).

Each benchmark records its rows with `record(...)` into `bench/results/<bench>.json` (committed: the figures the README
summarises, replaced per (scale, run) by the next measurement). `python -m bench.report` renders them all into
`bench/REPORT.md`, the committed output format of `make bench`.

Columns: wall (s) of the run; the rate-limit bound (s) it is compared with (requests ÷ the documented limit, or the
plan's cost ÷ restore rate); their ratio; requests; 429s the server sent (all retried); peak RSS (MB) of the run's
process and children; the simulator's CPU seconds as a share of the HTTP span (the sandbox must not be the bottleneck).
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
REPORT = Path(__file__).resolve().parent / "REPORT.md"


@dataclass
class Row:
    provider: str
    scale: str
    run: str
    """e.g. "full", "no-change", "+1d", "+7d", "reconcile", "demo: extract", "transform: cosmos"."""
    wall_s: float | None = None
    bound_s: float | None = None
    requests: int | None = None
    throttled: int | None = None
    peak_rss_mb: float | None = None
    sandbox_cpu_share: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.wall_s / self.bound_s if self.wall_s and self.bound_s else None


def machine() -> str:
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.machine()} {os.cpu_count()} cores, load {load:.1f} when recorded"


def record(bench: str, row: Row) -> None:
    """Add or replace (same provider, scale, run) one row of `bench`'s results file."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{bench}.json"
    rows: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    key = (row.provider, row.scale, row.run)
    rows = [r for r in rows if (r["provider"], r["scale"], r["run"]) != key]
    entry = asdict(row) | {"measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"), "machine": machine()}
    rows.append(entry)
    path.write_text(json.dumps(rows, indent=1) + "\n")


def sandbox_cpu_share(before: dict[str, Any], after: dict[str, Any], span_s: float) -> float | None:
    """The simulator's CPU seconds between two `/_sandbox/stats` reads, as a share of the HTTP span."""
    try:
        cpu = after["_process"]["cpu_seconds"] - before["_process"]["cpu_seconds"]
    except KeyError:
        return None
    return cpu / span_s if span_s > 0 else None


def sandbox_cpu_seconds(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    """The simulator's CPU seconds between two `/_sandbox/stats` reads."""
    try:
        return float(after["_process"]["cpu_seconds"] - before["_process"]["cpu_seconds"])
    except KeyError:
        return None


def _cell(value: Any, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def render() -> str:
    lines = [
        "# Benchmark report",
        "",
        "Written by `python -m bench.report` from `bench/results/*.json` (`make bench` runs every benchmark, then this).",
        "Ratio = wall ÷ rate-limit bound; sandbox CPU = the simulator's CPU time ÷ the HTTP span. Memory-only rows run at",
        "zero latency with the limits lifted, which shrinks the span to what two processes' CPU allow; their bound is the",
        "documented limit's bound for the same requests (the shortest span a run at the real limit can take) and their",
        "sandbox CPU is the simulator's CPU ÷ that bound (an upper bound on its share at the real limit; the zero-latency",
        "share is in the note).",
        "",
        "| bench | provider | scale | run | wall s | bound s | ratio | requests | 429s | peak RSS MB | sandbox CPU | measured | note |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        for r in json.loads(path.read_text()):
            row = Row(**{k: v for k, v in r.items() if k in Row.__dataclass_fields__})
            lines.append(
                f"| {path.stem} | {row.provider} | {row.scale} | {row.run} | {_cell(row.wall_s, '.1f')} "
                f"| {_cell(row.bound_s, '.1f')} | {_cell(row.ratio, '.2f')} | {_cell(row.requests, 'd')} "
                f"| {_cell(row.throttled, 'd')} | {_cell(row.peak_rss_mb, '.0f')} | {_cell(row.sandbox_cpu_share, '.0%')} "
                f"| {r.get('measured_at', '')} ({r.get('machine', '')}) | {row.note} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    REPORT.write_text(render())
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
