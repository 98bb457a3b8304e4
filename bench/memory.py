"""Peak resident memory of an extraction, per dlt step, for the benchmarks (never asserted in tests).

`measured_run` runs one extraction in a fresh (spawned) process, as an Airflow task runs it: the benchmark's own
twin of the world (hundreds of MB at large) and earlier runs' allocations would otherwise be counted as the
extraction's.

`ru_maxrss` only ever grows over a process's life, so it cannot tell the second run of a benchmark from the first,
nor which step peaked. A sampling thread in the benchmark's process (psutil, every 20 ms) reads the run's RSS plus
its children's (a normalize/load worker pool would be children) and keeps the maximum per step. The step is whichever
of dlt's `Pipeline.extract` / `normalize` / `load` the run is in, which the run's process publishes in a shared
integer (its methods wrapped while the run lasts). The sampler sits outside the measured process: inside it, it took
the run's GIL 50 times a second, and listing children reads every process's /proc entry (about 1 ms a sample on a
busy machine), which the run's wall then included.
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
STEPS = ("other", "extract", "normalize", "load")
"""The steps a run reports, by index in the shared integer."""
CHILDREN_EVERY = 10
"""Samples between two listings of the run's child processes (the listing reads all of /proc; RSS reads are cheap)."""


class PeakRSS:
    """Peak RSS in bytes per step (`extract`, `normalize`, `load`, and `other` between them), `peak_mb` overall."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()

    def sample(self, process: psutil.Process, step: Any) -> None:
        """Sample `process` (and its children) until `stop`; `step.value` indexes STEPS."""
        children: list[psutil.Process] = []
        tick = 0
        while True:
            try:
                if tick % CHILDREN_EVERY == 0:
                    children = process.children(recursive=True)
                rss = process.memory_info().rss
            except psutil.Error:
                return  # the run's process has ended
            for child in children:
                try:
                    rss += child.memory_info().rss
                except psutil.Error:
                    pass  # a child that ended since it was listed
            name = STEPS[step.value]
            self.peaks[name] = max(self.peaks.get(name, 0), rss)
            tick += 1
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop.set()

    @property
    def peak_mb(self) -> float:
        return max(self.peaks.values(), default=0) / MB

    def describe(self) -> str:
        steps = ", ".join(f"{s} {self.peaks[s] / MB:.0f}" for s in ("extract", "normalize", "load") if s in self.peaks)
        return f"peak RSS {self.peak_mb:.0f} MB ({steps})"


@contextmanager
def steps_published(step: Any) -> Iterator[None]:
    """While the block runs, `step.value` is the index (STEPS) of the dlt step in progress."""
    import dlt

    originals = {name: getattr(dlt.Pipeline, name) for name in STEPS[1:]}

    def labelled(index: int, method: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            step.value = index
            try:
                return method(*args, **kwargs)
            finally:
                step.value = 0

        return wrapper

    for name, method in originals.items():
        setattr(dlt.Pipeline, name, labelled(STEPS.index(name), method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(dlt.Pipeline, name, method)


def _run_in_child(provider: str, options: dict[str, Any], collect: str | None, step: Any, results: Any) -> None:
    try:
        from pipelines.run import run_provider

        with steps_published(step):
            summary = run_provider(provider, **options)
        summary.load_info = None  # not needed by the benchmarks, and not picklable
        outcome: tuple[str, Any] = ("ok", (summary, pkgutil.resolve_name(collect)() if collect else None))
    except BaseException as exc:  # handed to the benchmark, as Pool.apply would
        outcome = ("error", exc)
    try:
        results.send(outcome)
    except Exception:  # an exception that does not pickle: its text (the benchmark's own run, never logged data)
        results.send(("error", RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}")))


def measured_run(provider: str, collect: str | None = None, **options: Any) -> tuple[Any, PeakRSS]:
    """`run_provider(provider, **options)` in a spawned process: its RunSummary and peak RSS per step. `collect`
    (`"module:callable"`) is called in that process after the run, its result kept as `summary.collected` (e.g. a
    client's own usage counters, which live in the run's process)."""
    context = multiprocessing.get_context("spawn")
    step = context.Value("i", 0, lock=False)  # one writer (the run), one reader (the sampler): no lock needed
    receiving, sending = context.Pipe(duplex=False)
    run = context.Process(target=_run_in_child, args=(provider, options, collect, step, sending), name=f"measured-{provider}")
    run.start()
    sending.close()  # the child holds the only sending end: a crashed child ends `recv` with EOFError
    memory = PeakRSS()
    sampler = threading.Thread(target=memory.sample, args=(psutil.Process(run.pid), step), name="peak-rss", daemon=True)
    sampler.start()
    try:
        status, payload = receiving.recv()
    except EOFError:
        run.join()
        raise RuntimeError(f"the measured {provider} run's process ended without a result (exit code {run.exitcode})") from None
    finally:
        memory.stop()
        sampler.join()
        run.join()
        receiving.close()
    if status == "error":
        raise payload
    summary, collected = payload
    summary.collected = collected
    return summary, memory
