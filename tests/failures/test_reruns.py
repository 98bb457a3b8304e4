"""Re-runs, on every provider: after a kill -9 anywhere in a run nothing is lost or doubled; after a success a
re-run loads nothing and costs only the minimum requests (declared per provider from its sandbox world)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipelines.run import run_provider
from tests.failures.conftest import raw_fingerprint, table_fingerprint
from tests.failures.facts import FailureFacts
from tests.failures.processes import count_steps, kill_at, spread


@pytest.mark.fault("re-run after success")
def test_a_rerun_after_success_loads_nothing_with_the_fewest_requests(
    provider: str, facts: FailureFacts, env: Any, outcome: Any
) -> None:
    run_provider(provider)
    before = raw_fingerprint(provider)
    requests_before = env.state.stats[provider].requests
    rerun = run_provider(provider)
    changed = {t: n for t, n in rerun.rows_extracted.items() if n and t not in facts.snapshot_tables}
    assert changed == {}, f"a re-run with nothing new extracted rows: {changed}"
    assert raw_fingerprint(provider) == before  # snapshots re-read in full replace themselves: nothing doubled
    expected = facts.rerun_requests(env)
    assert env.state.stats[provider].requests - requests_before == rerun.requests == expected
    snapshots = sum(n for t, n in rerun.rows_extracted.items() if t in facts.snapshot_tables)
    outcome(f"0 new rows ({snapshots} snapshot rows re-read by design), {expected} requests (the declared minimum)")


@pytest.mark.fault("kill -9 mid-run, then re-run")
def test_a_run_killed_anywhere_then_rerun_loses_and_doubles_nothing(
    provider: str, env: Any, warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scanned: list[str],
    outcome: Any,
) -> None:
    run_provider(provider)
    env.world.advance(7)
    twin = tmp_path / "twin"
    shutil.copytree(warehouse, twin)
    counts = count_steps(provider, twin, monkeypatch)  # the same run, uninterrupted, in a copy: what a re-run must match
    expected = table_fingerprint(twin / "raw" / f"{provider}.duckdb", f"raw_{provider}")
    seed = random.randrange(1 << 30)
    point = spread(counts, ("extract", "load", "publish"), 1, random.Random(seed))[0]
    kill_at(provider, point, warehouse, scanned)
    run_provider(provider)
    # Same tables, row counts and primary keys as the uninterrupted run: nothing lost, nothing doubled.
    assert raw_fingerprint(provider) == expected, f"killed at {point} (seed {seed})"
    steps = ", ".join(f"{counts.get(phase, 0)} {phase}" for phase in ("extract", "load", "publish"))
    outcome(f"killed at {point} (of {steps} steps); the re-run left exactly the uninterrupted run's rows")
