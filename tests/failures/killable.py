"""Run one provider's extraction in a child process that can be frozen at an exact point, for a kill -9.

    python -m tests.failures.killable <provider> count            # run to the end; print the events of each phase
    python -m tests.failures.killable <provider> <phase> <n>      # freeze at the n-th event of <phase>

The points are the run's own steps, counted: every HTTP attempt the shared client layer sends ("extract"), every
SQL statement dlt's DuckDB client executes while loading ("load"), the statement that records the load as complete
in `_dlt_loads` ("record", 1: every table is committed by then), and the steps of publishing the raw copy
("publish": before the checkpoint, before the copy, before the rename). A load's statement count varies by the few
statements of a schema update (dlt re-stores the schema when, say, two resources race to create a table first), so
a "load" point past the actual end freezes at the record instead. At the chosen one the child prints `FROZEN <phase> <n>`
and blocks on stdin; the parent kills it with SIGKILL on reading that line (a handshake, not a sleep). In `count`
mode the child prints `COUNTS {"extract": .., "load": .., "publish": .., "load step recording the load": ..}` before
it exits (the last is the load step that inserts the `_dlt_loads` row: every table is committed before it).

The environment (sandbox URL and credentials, data folder, the provider's test settings) comes from the parent.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections import Counter
from typing import Any

COUNTS: Counter[str] = Counter()
MARKS: dict[str, int] = {}
"""Notable steps, by number: the load step that inserts the `_dlt_loads` row (everything before it is committed)."""
_phase = ["extract"]
_lock = threading.Lock()
_freeze_at: tuple[str, int] | None = None


def tick(phase: str | None = None) -> None:
    with _lock:
        phase = phase or _phase[0]
        COUNTS[phase] += 1
        reached = (phase, COUNTS[phase]) == _freeze_at
        # A load point past this run's load (its step count varies by the few statements of a schema update): the
        # last moment of the load, just before the completion record, stands in for it.
        if phase == "record" and _freeze_at is not None and _freeze_at[0] == "load" and _freeze_at[1] > COUNTS["load"]:
            reached = True
    if reached:
        print(f"FROZEN {phase} {COUNTS[phase]}", flush=True)
        sys.stdin.read()  # never answered: the parent kills this process
        os._exit(3)  # stdin closed without a kill: the parent gave up


def instrument(setattr: Any = setattr) -> None:
    """Wrap the steps to count (pass `monkeypatch.setattr` to instrument the test process itself, undone after)."""
    import dlt
    from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

    from pipelines.common import http

    attempt = http.ProviderSession._attempt

    def counted_attempt(self: Any, request: Any, **kwargs: Any) -> Any:
        tick("extract")
        return attempt(self, request, **kwargs)

    setattr(http.ProviderSession, "_attempt", counted_attempt)

    execute = DuckDbSqlClient.execute_query

    def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if _phase[0] == "load":
            text = query.decode() if isinstance(query, bytes) else str(query)
            if "_dlt_loads" in text and "insert" in text.lower():  # the load's completion record
                MARKS["load step recording the load"] = COUNTS["load"] + 1
                tick("record")
            tick("load")
        return execute(self, query, *args, **kwargs)

    setattr(DuckDbSqlClient, "execute_query", counted_execute)

    load = dlt.Pipeline.load

    def phased_load(self: Any, *args: Any, **kwargs: Any) -> Any:
        _phase[0] = "load"
        try:
            return load(self, *args, **kwargs)
        finally:
            _phase[0] = "after-load"

    setattr(dlt.Pipeline, "load", phased_load)

    import pipelines.run as run_module

    publish = run_module.publish_raw

    def phased_publish(provider: str) -> Any:
        _phase[0] = "publish"
        tick("publish")
        try:
            return publish(provider)
        finally:
            _phase[0] = "done"

    setattr(run_module, "publish_raw", phased_publish)

    copy, replace = shutil.copyfile, os.replace

    def counted_copy(*args: Any, **kwargs: Any) -> Any:
        if _phase[0] == "publish":
            tick("publish")
        return copy(*args, **kwargs)

    def counted_replace(*args: Any, **kwargs: Any) -> Any:
        if _phase[0] == "publish":
            tick("publish")
        return replace(*args, **kwargs)

    # Patched module-wide (in the child, or undone after the test); they count only while publishing.
    setattr(shutil, "copyfile", counted_copy)
    setattr(os, "replace", counted_replace)


def counted_run(provider: str, setattr: Any) -> dict[str, int]:
    """Run the extraction to the end in this process, instrumented; the number of steps of each phase."""
    COUNTS.clear()
    MARKS.clear()
    _phase[0] = "extract"
    instrument(setattr)
    from pipelines.run import run_provider

    run_provider(provider)
    return {**COUNTS, **MARKS}


def main(argv: list[str]) -> int:
    global _freeze_at
    provider, mode = argv[0], argv[1]
    if mode != "count":
        _freeze_at = (mode, int(argv[2]))
    instrument()
    from pipelines.run import run_provider

    summary = run_provider(provider)
    print(f"COUNTS {json.dumps({**COUNTS, **MARKS})}", flush=True)
    print(f"DONE {summary.total_rows}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
