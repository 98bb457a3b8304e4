"""Shared fixtures: a sandbox on a free port (zero latency), and an isolated warehouse folder per test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sandbox.server import SandboxServer

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OPSDATA_REPO_ROOT", str(REPO_ROOT))
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
# Each test process (an xdist worker, or a suite in another clone) logs dbt to its own folder: dbt rotates its log file,
# and two processes rotating one file can lose it under each other. Everything else a test writes is under its tmp_path.
os.environ.setdefault(
    "DBT_LOG_PATH", tempfile.mkdtemp(prefix=f"opsdata-dbt-logs-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-")
)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh small world per test: tests may advance it or inject faults freely."""
    from sandbox.server import SandboxServer

    with SandboxServer(scale="small", latency="zero") as server:
        yield server


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[SandboxServer]:
    """A small world shared by a module's read-only tests (don't advance it or leave faults behind)."""
    from sandbox.server import SandboxServer

    with SandboxServer(scale="small", latency="zero") as server:
        yield server


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder for this test's DuckDB files."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("OPSDATA_DATA_DIR", str(data))
    return data


def point_at_sandbox(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Set the environment that points every registered integration at the sandbox running at `url`."""
    from sandbox.env import client_env

    for name, value in client_env(url).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def sandbox_env(sandbox, warehouse: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Every integration pointed at this test's sandbox (base URLs and credentials, through the environment as a user
    would set them) and at this test's warehouse. Yields the sandbox server."""
    point_at_sandbox(monkeypatch, sandbox.url)
    # Tests must not wait on real backoff schedules.
    monkeypatch.setenv("OPSDATA_FAST_RETRIES", "1")
    return sandbox
