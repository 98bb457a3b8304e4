"""Run dbt on the warehouse, and publish the BI copy. Used by the demo, the tests and (through Cosmos) the DAGs.

`publish()` copies the `marts` and `tiles` schemas of `warehouse.duckdb` into a new file and atomically replaces
`bi.duckdb` with it, so BI tools always read a complete, consistent snapshot and never hold a lock that a
pipeline needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from pipelines.common.storage import REPO_ROOT, STORAGE_COMPATIBILITY_VERSION, data_dir, tiles_path, warehouse_path

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
PUBLISHED_SCHEMAS = ("marts", "tiles")


def dbt_env() -> dict[str, str]:
    env = dict(os.environ)
    env["OPSDATA_DATA_DIR"] = str(data_dir())
    env["OPSDATA_REPO_ROOT"] = str(REPO_ROOT)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def run_dbt(*args: str, as_of_date: str | None = None, target_path: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a dbt command against this project. `as_of_date` pins the metrics' 'today' (sandbox worlds)."""
    cmd = [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    if as_of_date:
        cmd += ["--vars", f"{{as_of_date: '{as_of_date}'}}"]
    if target_path:
        cmd += ["--target-path", target_path]
    result = subprocess.run(cmd, env=dbt_env(), capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
    if check and result.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
    return result


def publish() -> Path:
    """Copy marts and tiles into a fresh DuckDB file, then atomically swap it in as `bi.duckdb`."""
    target = tiles_path()
    tmp = target.with_suffix(".duckdb.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_COMPATIBILITY_VERSION})
    try:
        con.execute(f"ATTACH '{warehouse_path()}' AS wh (READ_ONLY)")
        for schema in PUBLISHED_SCHEMAS:
            tables = con.execute(
                "select table_name from information_schema.tables where table_catalog = 'wh' and table_schema = ? "
                "and table_type = 'BASE TABLE' order by 1",
                [schema],
            ).fetchall()
            if not tables:
                continue
            con.execute(f"create schema if not exists {schema}")
            for (table,) in tables:
                con.execute(f'create table {schema}."{table}" as select * from wh.{schema}."{table}"')
        con.execute("DETACH wh")
    finally:
        con.close()
    os.replace(tmp, target)
    return target
