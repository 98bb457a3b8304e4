"""DuckDB allows one writing process per file, and a read-only open fails at once while another process writes.
These tests force the overlap with real processes: without the locks it fails, with them nobody ever does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.dags.conftest import DAGS_DIR, airflow_env

# A writer as the extraction task does it: the raw file's exclusive lock around a read-write DuckDB session. It says
# "holding" once it has the file open and written, and keeps it until its stdin closes (the test's handshake); the
# locks module's "waiting for ..." line on stderr says it found the file taken and is queueing.
WRITER = r"""
import json, logging, sys, time, duckdb
from dagkit.locks import duckdb_locks, raw_lock_name
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
path, use_locks, writer = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
def write():
    start = time.time()
    con = duckdb.connect(path)
    con.execute("create table if not exists t (writer int, started double)")
    con.execute("insert into t values (?, ?)", [writer, start])
    print("holding", flush=True)
    sys.stdin.read()
    con.close()
    return start, time.time()
if use_locks:
    with duckdb_locks(exclusive=[raw_lock_name("shopify")]):
        start, end = write()
else:
    start, end = write()
print(json.dumps({"start": start, "end": end}))
"""

# dagkit/dbt_with_locks.py itself, with the locks module's log lines on stderr.
DBT_WITH_LOCKS = (
    "import logging, runpy, sys; logging.basicConfig(level=logging.INFO, stream=sys.stderr, format='%(message)s'); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)
DUCKDB_LOCK_ERROR = "could not set lock"

# What dbt does with the raw files: attach read-only and query them (used as the "dbt" behind dbt_with_locks.py).
FAKE_DBT = r"""#!{python}
import json, os, sys, time, duckdb
start = time.time()
rows = None
if sys.argv[1:2] != ["parse"]:  # like dbt: only commands that run SQL open the files
    con = duckdb.connect(os.path.join(os.environ["OPSDATA_DATA_DIR"], "raw_shopify.duckdb"), read_only=True)
    rows = con.execute("select count(*) from t").fetchone()[0]
    con.close()
print(json.dumps({{"start": start, "end": time.time(), "rows": rows, "args": sys.argv[1:]}}))
"""


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _writer(raw: Path, env: dict[str, str], n: int, *, locks: bool = True) -> subprocess.Popen[str]:
    return _spawn([sys.executable, "-c", WRITER, str(raw), "1" if locks else "0", str(n)], env)


def _wait_for(stream: Any, needle: str) -> None:
    """Read lines until one contains `needle` (the other process reached that point); fail if the stream ends first."""
    seen = []
    for line in iter(stream.readline, ""):
        if needle in line:
            return
        seen.append(line)
    raise AssertionError(f"stream ended before {needle!r}: {''.join(seen)[-2000:]}")


def _release(proc: subprocess.Popen[str]) -> None:
    """End of the handshake: closing its stdin tells the writer to let go of the file."""
    assert proc.stdin is not None
    proc.stdin.close()
    proc.stdin = None  # communicate() must not flush it again


def _prepare(warehouse: Path) -> tuple[Path, dict[str, str]]:
    raw = warehouse / "raw_shopify.duckdb"
    fake_dbt = warehouse / "fake-dbt"
    fake_dbt.write_text(FAKE_DBT.format(python=sys.executable))
    fake_dbt.chmod(0o755)
    env = airflow_env(OPSDATA_DATA_DIR=str(warehouse), OPSDATA_DBT_EXECUTABLE=str(fake_dbt))
    return raw, env


def test_without_locks_the_overlap_fails(warehouse: Path) -> None:
    """The control: proves the overlap below is real (a reader fails at once on a written file)."""
    raw, env = _prepare(warehouse)
    writer = _writer(raw, env, 1, locks=False)
    _wait_for(writer.stdout, "holding")  # the writer holds the file now
    reader = subprocess.run([str(warehouse / "fake-dbt")], env=env, capture_output=True, text=True)
    _release(writer)
    writer.communicate(timeout=900)
    assert reader.returncode != 0
    assert DUCKDB_LOCK_ERROR in reader.stderr.lower()


def test_two_writers_and_dbt_at_once_never_hit_a_lock(warehouse: Path) -> None:
    """`extract_<p>` and `reconcile_<p>` writing the same raw file while the transform's dbt reads it."""
    raw, env = _prepare(warehouse)
    first = _writer(raw, env, 1)
    _wait_for(first.stdout, "holding")
    second = _writer(raw, env, 2)
    dbt = _spawn([sys.executable, "-c", DBT_WITH_LOCKS, str(DAGS_DIR / "dagkit" / "dbt_with_locks.py"), "build", "--select", "staging"], env)
    _wait_for(second.stderr, "waiting for raw_shopify.lock")  # both found the file taken and queue behind the first
    _wait_for(dbt.stderr, "waiting for raw_shopify.lock")
    _release(first)
    _wait_for(second.stdout, "holding")  # the second writer's turn (before or after dbt's)
    _release(second)
    results = []
    for proc in (first, second, dbt):
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-2000:]
        assert DUCKDB_LOCK_ERROR not in err.lower(), err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    one, two, reader = results
    # The writers took turns, and dbt waited for the writer holding the file.
    spans = sorted([(one["start"], one["end"]), (two["start"], two["end"]), (reader["start"], reader["end"])])
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, spans
    assert reader["args"] == ["build", "--select", "staging"]
    assert reader["rows"] >= 1


def test_dbt_commands_that_do_not_touch_the_warehouse_take_no_lock(warehouse: Path) -> None:
    """`dbt parse` (the manifest build) must not wait for a running extraction."""
    raw, env = _prepare(warehouse)
    writer = _writer(raw, env, 1)
    _wait_for(writer.stdout, "holding")
    parse = subprocess.run([str(DAGS_DIR / "dagkit" / "dbt_with_locks.py"), "parse"], env=env, capture_output=True, text=True, timeout=900)
    still_holding = writer.poll() is None  # it only lets go once told to: parse ran while the file was held
    _release(writer)
    writer.communicate(timeout=900)
    assert parse.returncode == 0, parse.stderr[-2000:]
    assert still_holding
    assert json.loads(parse.stdout.strip().splitlines()[-1])["args"] == ["parse"]


# A `dbt build` as far as the locks go: the warehouse's exclusive lock, held until its stdin closes.
WAREHOUSE_HOLDER = r"""
import sys
from dagkit.locks import WAREHOUSE_LOCK, duckdb_locks
with duckdb_locks(exclusive=[WAREHOUSE_LOCK]):
    print("holding", flush=True)
    sys.stdin.read()
"""


def test_source_freshness_on_its_target_runs_beside_a_build(warehouse: Path) -> None:
    """`source freshness --target freshness` opens no warehouse (profiles.yml), so it does not wait for a build's
    warehouse lock: the transform DAG runs it beside the build."""
    raw, env = _prepare(warehouse)
    import duckdb

    con = duckdb.connect(str(raw))
    con.execute("create table t (writer int, started double)")
    con.close()
    holder = _spawn([sys.executable, "-c", WAREHOUSE_HOLDER], env)
    _wait_for(holder.stdout, "holding")
    freshness = subprocess.run([str(DAGS_DIR / "dagkit" / "dbt_with_locks.py"), "source", "freshness", "--target", "freshness"],
                               env=env, capture_output=True, text=True, timeout=900)
    still_holding = holder.poll() is None  # the build's lock was held the whole time
    _release(holder)
    holder.communicate(timeout=900)
    assert freshness.returncode == 0, freshness.stderr[-2000:]
    assert still_holding
    assert json.loads(freshness.stdout.strip().splitlines()[-1])["args"] == ["source", "freshness", "--target", "freshness"]
