"""The shared failure-path suite: every test runs once per registered extraction provider.

- `provider` is parametrised from `pipelines.registry.extraction_providers()`: a new provider gets the whole suite by
  registering (and declaring its few facts in `tests/pipelines/<p>/failure_facts.py`, see `facts.py`).
- `env` points every integration at a fresh sandbox (as `sandbox_env` does) with the provider's declared test
  environment.
- Every log record and every byte written to stdout/stderr during each test (subprocesses included, via
  `scanned`) is checked for the world's email addresses, the sandbox's secret credentials and whole response
  bodies (`private_logs`, autouse).
- Each test is marked with the fault it injects; the terminal summary prints provider x fault -> outcome.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest

# The Airflow test harness (throw-away AIRFLOW_HOME, migrated DB, pools) for the DAG-level checks (terminal errors
# fail at the first try and alert). Importing it sets Airflow's environment, as it does for tests/dags.
from tests.dags.conftest import airflow_db, airflow_home, dbt_manifest, load_dag, pools  # noqa: F401
from tests.failures.facts import FailureFacts, facts_for

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_LOG_RECORD = 8_000
"""No log record or error message comes near a response body's size (a page is tens of kB)."""
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fault(name): the fault a failure-suite test injects (for the outcome table)")


def provider_names() -> list[str]:
    from pipelines.registry import extraction_providers

    return [p.name for p in extraction_providers()]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "provider" in metafunc.fixturenames:
        metafunc.parametrize("provider", provider_names())


@pytest.fixture
def facts(provider: str) -> FailureFacts:
    return facts_for(provider)


@pytest.fixture
def env(provider: str, facts: FailureFacts, sandbox_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`sandbox_env` plus the provider's own test environment. Yields the sandbox server."""
    # The pipelines' today is the sandbox world's, as in the demo: a re-read window that ends at the machine's date
    # would grow with the day the suite runs, and so would the requests a provider declares.
    monkeypatch.setenv("OPSDATA_AS_OF_DATE", sandbox_env.world.now.date().isoformat())
    for name, value in facts.env.items():
        monkeypatch.setenv(name, value)
    if facts.prepare is not None:
        facts.prepare(sandbox_env)
    return sandbox_env


# --- privacy: nothing personal, secret or body-sized in any output ---------------------------------------------
class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken record is not ours to judge
            return
        self.lines.append(f"{record.name}: {text}")
        if record.exc_text:
            self.lines.append(record.exc_text)


@pytest.fixture
def scanned() -> list[str]:
    """Extra text the privacy check must cover (a subprocess's output, an exception message)."""
    return []


@functools.cache
def world_emails() -> frozenset[str]:
    from sandbox.world import World
    from sandbox.world.core import EMAIL_DOMAINS

    world = World(seed=42, scale="small")
    emails = {c.email.lower() for c in world.customers}
    return frozenset(emails | {f"@{d}" for d in EMAIL_DOMAINS})


@functools.cache
def secret_values() -> frozenset[str]:
    from pipelines.registry import integrations
    from sandbox.common.simulator import load_simulator

    values = set()
    for integration in integrations():
        credentials = load_simulator(integration.sandbox).credentials
        values |= {credentials[f] for f in integration.secret_fields() if len(credentials.get(f, "")) >= 8}
    return frozenset(values)


@pytest.fixture(autouse=True)
def private_logs(request: pytest.FixtureRequest, capfd: pytest.CaptureFixture[str], scanned: list[str]) -> Iterator[None]:
    handler = _Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    out, err = capfd.readouterr()
    lines = handler.lines + out.splitlines() + err.splitlines() + [line for text in scanned for line in text.splitlines()]
    problems = privacy_problems(lines)
    assert not problems, "\n".join(problems[:5])


def privacy_problems(lines: list[str]) -> list[str]:
    """Lines (of production code's output) that carry one of the world's emails, a sandbox secret, or a body."""
    emails, secrets = world_emails(), secret_values()
    problems = []
    for line in lines:
        if line.startswith(("sandbox", "uvicorn")) or "[sandbox" in line or "[uvicorn" in line:
            continue  # the simulator's own logs are not production code's
        for found in EMAIL.findall(line):
            if any(found.lower() == e or found.lower().endswith(e) for e in emails):
                problems.append(f"personal data in a log line: {line[:300]}")
        for secret in secrets:
            if secret in line:
                problems.append(f"a secret in a log line: {line[:300].replace(secret, '<the secret>')}")
        if len(line) > MAX_LOG_RECORD:
            problems.append(f"a {len(line)}-character log line (a response body?): {line[:300]}")
    return problems


# --- the outcome table -------------------------------------------------------------------------------------------
_OUTCOMES: dict[tuple[str, str], str] = {}
_NOTES: dict[str, str] = {}


def record_outcome(provider: str, fault: str, text: str) -> None:
    """For a test that covers every provider in one go: one row of the table per provider."""
    _OUTCOMES[(provider, fault)] = f"green: {text}"


@pytest.fixture
def outcome(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record what happened (for the provider x fault table), e.g. `outcome("retried 4x, complete")`."""

    def note(text: str) -> None:
        _NOTES[request.node.nodeid] = text

    return note


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome_ = yield
    report = outcome_.get_result()
    marker = item.get_closest_marker("fault")
    if marker is None:
        return
    params = item.callspec.params if hasattr(item, "callspec") else {}
    fault = str(marker.args[0]) + (f" ({params['case']})" if "case" in params else "")
    if "provider" not in params and report.passed and any(f == fault for _, f in _OUTCOMES):
        return  # the test recorded one row per provider itself (record_outcome)
    key = (str(params.get("provider", "(any)")), fault)
    if report.when == "call" or report.failed:
        status = "green" if report.passed else ("FAILED" if report.failed else report.outcome)
        note = _NOTES.get(item.nodeid, "")
        previous = _OUTCOMES.get(key)
        if previous is None or not previous.startswith("FAILED"):
            _OUTCOMES[key] = f"{status}: {note}" if note else status


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _OUTCOMES:
        return
    terminalreporter.section("failure suite: provider x fault -> outcome")
    faults = list(dict.fromkeys(fault for _, fault in _OUTCOMES))
    for fault in faults:
        terminalreporter.write_line(f"{fault}")
        for (provider, name), text in _OUTCOMES.items():
            if name == fault:
                terminalreporter.write_line(f"    {provider:<10} {text}")


# --- raw-table fingerprints -----------------------------------------------------------------------------------
def table_fingerprint(path: Path, dataset: str) -> dict[str, tuple[int, tuple[Any, ...]]]:
    """Table -> (rows, sorted primary keys or () for tables without one), for every data table of `dataset`."""
    if not path.exists():
        return {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ? and table_name not like '_dlt%'",
            [dataset],
        ).fetchall()]
        out = {}
        for table in tables:
            columns = {c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ?", [dataset, table]
            ).fetchall()}
            count = con.execute(f'select count(*) from {dataset}."{table}"').fetchone()[0]  # type: ignore[index]
            keys: tuple[Any, ...] = ()
            if "id" in columns and "_dlt_parent_id" not in columns:
                keys = tuple(sorted(str(k) for (k,) in con.execute(f'select id from {dataset}."{table}"').fetchall()))
            out[table] = (count, keys)
        return out


def raw_fingerprint(provider: str) -> dict[str, tuple[int, tuple[Any, ...]]]:
    from pipelines.common.storage import raw_db_path

    return table_fingerprint(raw_db_path(provider), f"raw_{provider}")


def completed_loads(path: Path, dataset: str) -> int:
    if not path.exists():
        return 0
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = '_dlt_loads'", [dataset]
        ).fetchone()
        if not found or not found[0]:
            return 0
        return int(con.execute(f"select count(*) from {dataset}._dlt_loads where status = 0").fetchone()[0])  # type: ignore[index]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_REFERENCES: dict[str, dict[str, tuple[int, tuple[Any, ...]]]] = {}


@pytest.fixture
def reference(provider: str, facts: FailureFacts, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, tuple[Any, ...]]]:
    """What a clean, fault-free first load of a fresh small world leaves in the raw tables (once per provider)."""
    if provider not in _REFERENCES:
        from pipelines.run import run_provider
        from sandbox.env import client_env
        from sandbox.server import SandboxServer

        with SandboxServer(scale="small", latency="zero") as server:
            data = tmp_path_factory.mktemp(f"reference-{provider}")
            values = {**client_env(server.url), **facts.env, "OPSDATA_DATA_DIR": str(data), "OPSDATA_FAST_RETRIES": "1",
                      "OPSDATA_AS_OF_DATE": server.world.now.date().isoformat()}  # as `env` pins it
            with environment(values):
                if facts.prepare is not None:
                    facts.prepare(server)
                run_provider(provider)
                _REFERENCES[provider] = raw_fingerprint(provider)
    return _REFERENCES[provider]
