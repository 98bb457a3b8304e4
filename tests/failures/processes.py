"""Drive `tests/failures/killable.py` children: count a run's steps, or freeze one at a step and kill -9 it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Point:
    phase: str
    """extract | load | publish (see killable.py)"""
    n: int

    def __str__(self) -> str:
        return f"{self.phase} step {self.n}"


def _child(provider: str, args: list[str], data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "OPSDATA_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.failures.killable", provider, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT, text=True,
    )


def count_steps(provider: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Run the extraction to the end in this process (the steps instrumented as in a child, undone by
    `monkeypatch`), with `data_dir` as the data folder; the number of steps of each phase."""
    from tests.failures.conftest import environment
    from tests.failures.killable import counted_run

    with monkeypatch.context() as patch, environment({"OPSDATA_DATA_DIR": str(data_dir)}):
        return counted_run(provider, patch.setattr)


def kill_at(provider: str, point: Point, data_dir: Path, output: list[str]) -> None:
    """Start the extraction in a child, wait until it reports it is frozen at `point`, then SIGKILL it."""
    child = _child(provider, [point.phase, str(point.n)], data_dir)
    assert child.stdout is not None
    lines = []
    for line in child.stdout:
        lines.append(line)
        if line.startswith("FROZEN "):
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait()
    lines.append(child.stdout.read())
    child.stdout.close()
    assert child.stdin is not None
    child.stdin.close()
    output.append("".join(lines))
    assert child.returncode == -signal.SIGKILL, f"the child was not frozen at {point}:\n{''.join(lines)[-3000:]}"


def spread(counts: dict[str, int], phases: tuple[str, ...], k: int, rng: random.Random) -> list[Point]:
    """`k` distinct points over the given phases, one at random in each of `k` equal slices of their steps (so
    early, middle and late points are all tried)."""
    steps = [Point(phase, n) for phase in phases for n in range(1, counts.get(phase, 0) + 1)]
    assert len(steps) >= k, f"only {len(steps)} steps in {phases}: {counts}"
    size = len(steps) / k
    return [steps[int(i * size) + rng.randrange(max(1, int(size)))] for i in range(k)]
