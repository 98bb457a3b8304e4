"""Peak resident memory of an extraction, per dlt step, for the benchmarks (never asserted in tests).

`measured_run` runs one extraction in a fresh (spawned) process, as an Airflow task runs it: the benchmark's own
twin of the world (hundreds of MB at large) and earlier runs' allocations would otherwise be counted as the
extraction's.

`ru_maxrss` only ever grows over a process's life, so it cannot tell the second run of a benchmark from the first,
nor which step peaked. A sampling thread (psutil, every 20 ms) reads this process's RSS plus its children's (a
normalize/load worker pool would be children) and keeps the maximum per step; the step is whichever of dlt's
`Pipeline.extract` / `normalize` / `load` is running, found by wrapping those methods while the sampler is open.
"""

from __future__ import annotations

import multiprocessing
import pkgutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil

MB = 1024 * 1024


def _rss(process: psutil.Process) -> int:
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass  # a child that ended between listing and reading
    return total


class PeakRSS:
    """Peak RSS in MB, overall and per dlt step (`extract`, `normalize`, `load`, and `other` between them)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.step = "other"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._process = psutil.Process()

    def _sample(self) -> None:
        while True:
            rss = _rss(self._process)
            self.peaks[self.step] = max(self.peaks.get(self.step, 0), rss)
            if self._stop.wait(self.interval):
                return

    @property
    def peak_mb(self) -> float:
        return max(self.peaks.values(), default=0) / MB

    def describe(self) -> str:
        steps = ", ".join(f"{s} {self.peaks[s] / MB:.0f}" for s in ("extract", "normalize", "load") if s in self.peaks)
        return f"peak RSS {self.peak_mb:.0f} MB ({steps})"


@contextmanager
def peak_rss() -> Iterator[PeakRSS]:
    """Sample RSS while the block runs, labelled by the dlt step in progress."""
    import dlt

    sampler = PeakRSS()
    originals = {step: getattr(dlt.Pipeline, step) for step in ("extract", "normalize", "load")}

    def labelled(step: str, method: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            sampler.step = step
            try:
                return method(*args, **kwargs)
            finally:
                sampler.step = "other"

        return wrapper

    for step, method in originals.items():
        setattr(dlt.Pipeline, step, labelled(step, method))
    thread = threading.Thread(target=sampler._sample, name="peak-rss", daemon=True)
    thread.start()
    try:
        yield sampler
    finally:
        sampler._stop.set()
        thread.join()
        for step, method in originals.items():
            setattr(dlt.Pipeline, step, method)


def _run_in_child(provider: str, options: dict[str, Any], collect: str | None) -> tuple[Any, dict[str, int], Any]:
    from pipelines.run import run_provider

    with peak_rss() as memory:
        summary = run_provider(provider, **options)
    summary.load_info = None  # not needed by the benchmarks, and not picklable
    return summary, memory.peaks, pkgutil.resolve_name(collect)() if collect else None


def measured_run(provider: str, collect: str | None = None, **options: Any) -> tuple[Any, PeakRSS]:
    """`run_provider(provider, **options)` in a spawned process: its RunSummary and peak RSS per step. `collect`
    (`"module:callable"`) is called in that process after the run, its result kept as `summary.collected` (e.g. a
    client's own usage counters, which live in the run's process)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        summary, peaks, collected = pool.apply(_run_in_child, (provider, options, collect))
    summary.collected = collected
    memory = PeakRSS()
    memory.peaks = peaks
    return summary, memory
