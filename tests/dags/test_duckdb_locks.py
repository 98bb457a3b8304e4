"""DuckDB allows one writing process per file, and a read-only open fails at once while another process writes.
These tests force the overlap with real processes: without the locks it fails, with them nobody ever does."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.dags.conftest import DAGS_DIR, airflow_env

# A writer as the extraction task does it: the raw file's exclusive lock around a read-write DuckDB session.
WRITER = r"""
import json, sys, time, duckdb
from dagkit.locks import duckdb_locks, raw_lock_name
path, hold, use_locks = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
def write():
    start = time.time()
    con = duckdb.connect(path)
    con.execute("create table if not exists t (writer int, started double)")
    con.execute("insert into t values (?, ?)", [int(sys.argv[4]), start])
    time.sleep(hold)
    con.close()
    return start, time.time()
if use_locks:
    with duckdb_locks(exclusive=[raw_lock_name("shopify")]):
        start, end = write()
else:
    start, end = write()
print(json.dumps({"start": start, "end": end}))
"""

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
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


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
    writer = _spawn([sys.executable, "-c", WRITER, str(raw), "3", "0", "1"], env)
    time.sleep(1.5)  # the writer holds the file now
    reader = subprocess.run([str(warehouse / "fake-dbt")], env=env, capture_output=True, text=True)
    writer.communicate(timeout=30)
    assert reader.returncode != 0
    assert "lock" in reader.stderr.lower()


def test_two_writers_and_dbt_at_once_never_hit_a_lock(warehouse: Path) -> None:
    """`extract_<p>` and `reconcile_<p>` writing the same raw file while the transform's dbt reads it."""
    raw, env = _prepare(warehouse)
    writers = [_spawn([sys.executable, "-c", WRITER, str(raw), "1.0", "1", str(n)], env) for n in (1, 2)]
    time.sleep(0.3)
    dbt = _spawn([str(DAGS_DIR / "dagkit" / "dbt_with_locks.py"), "build", "--select", "staging"], env)
    results = []
    for proc in [*writers, dbt]:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
        assert "lock" not in err.lower(), err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    first, second, reader = results
    # The writers took turns, and dbt waited for the writer holding the file.
    spans = sorted([(first["start"], first["end"]), (second["start"], second["end"]), (reader["start"], reader["end"])])
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, spans
    assert reader["args"] == ["build", "--select", "staging"]
    assert reader["rows"] >= 1


def test_dbt_commands_that_do_not_touch_the_warehouse_take_no_lock(warehouse: Path) -> None:
    """`dbt parse` (the manifest build) must not wait for a running extraction."""
    raw, env = _prepare(warehouse)
    writer = _spawn([sys.executable, "-c", WRITER, str(raw), "3", "1", "1"], env)
    time.sleep(1.0)
    parse = subprocess.run([str(DAGS_DIR / "dagkit" / "dbt_with_locks.py"), "parse"], env=env, capture_output=True, text=True)
    out, _ = writer.communicate(timeout=30)
    assert parse.returncode == 0, parse.stderr[-2000:]
    parsed, written = json.loads(parse.stdout.strip().splitlines()[-1]), json.loads(out.strip().splitlines()[-1])
    assert parsed["start"] < written["end"]  # it ran while the writer still held the raw file
