"""Run dbt on the warehouse, and publish the BI copy. Used by the demo, the tests and (through Cosmos) the DAGs.

`publish()` copies the `marts` and `tiles` schemas of `warehouse.duckdb` into a new file and atomically replaces
`bi.duckdb` with it, so BI tools always read a complete, consistent snapshot and never hold a lock that a
pipeline needs. `source_freshness()` runs dbt's own `dbt source freshness` (the sources declare `loaded_at_query` =
the provider's last completed dlt load, and warn/error thresholds; it reads only the raw files, never the warehouse)
and keeps its result; `publish()` puts that result in the snapshot as
`ops.source_freshness`, so the dashboard and any BI tool can say how fresh each provider's data is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipelines.common.storage import REPO_ROOT, STORAGE_COMPATIBILITY_VERSION, data_dir, tiles_path, warehouse_path

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
PUBLISHED_SCHEMAS = ("marts", "tiles")
FRESHNESS_SCHEMA = "ops"


def freshness_path() -> Path:
    """dbt's last `source freshness` result (its `sources.json`), kept beside the warehouse."""
    return data_dir() / "source_freshness.json"


def dbt_env() -> dict[str, str]:
    env = dict(os.environ)
    env["OPSDATA_DATA_DIR"] = str(data_dir())
    env["OPSDATA_REPO_ROOT"] = str(REPO_ROOT)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


DBT_PROFILE, DBT_TARGET = "opsdata", "dev"
"""Named on every dbt command, as Cosmos names them: dbt's partial-parse check hashes the CLI's profile and target
with the vars, so commands that name them alike reuse each other's parse (`partial_parse.msgpack`)."""
FRESHNESS_TARGET = "freshness"
"""`dbt source freshness`'s target: no warehouse, only the attached raw files (profiles.yml)."""


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def run_dbt(*args: str, as_of_date: str | None = None, target_path: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a dbt command against this project. `as_of_date` pins the metrics' 'today' (sandbox worlds)."""
    cmd = [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--profile", DBT_PROFILE, "--target", DBT_TARGET]
    if as_of_date:
        cmd += ["--vars", f"{{as_of_date: '{as_of_date}'}}"]
    if target_path:
        cmd += ["--target-path", target_path]
    result = subprocess.run(cmd, env=dbt_env(), capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
    if check and result.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
    return result


def source_freshness(as_of_date: str | None = None, dbt_command: list[str] | None = None) -> Path | None:
    """Run `dbt source freshness` and keep its `sources.json` as `freshness_path()`; None if dbt wrote none.

    Stale sources make dbt exit non-zero: that is the result to surface, not a reason to stop publishing.
    `dbt_command` lets the DAG run dbt through its lock wrapper (`[python, dbt_with_locks.py]`).
    On the `freshness` target (profiles.yml): the sources are in the attached raw files, so this opens no warehouse
    and may run while a `dbt build` writes it (the transform DAG runs both at once). Its target path persists beside
    the data, so dbt's partial parse makes every run after the first re-parse only what changed.
    """
    target = data_dir() / "dbt_freshness_target"
    cmd = [*(dbt_command or [dbt_executable()]), "source", "freshness", "--project-dir", str(DBT_PROJECT_DIR),
           "--profiles-dir", str(DBT_PROJECT_DIR), "--profile", DBT_PROFILE, "--target", FRESHNESS_TARGET,
           "--target-path", str(target)]
    if as_of_date:
        cmd += ["--vars", f"{{as_of_date: '{as_of_date}'}}"]
    subprocess.run(cmd, env=dbt_env(), capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
    produced = target / "sources.json"
    if not produced.exists():
        return None
    os.replace(produced, freshness_path())
    return freshness_path()


def freshness_rows(path: Path) -> list[tuple[object, ...]]:
    """(provider, source table, max loaded at, snapshotted at, age in seconds, status, warn after, error after)."""
    rows: list[tuple[object, ...]] = []
    for result in json.loads(path.read_text()).get("results", []):
        _, _, provider, table = (result.get("unique_id") or "source...").split(".", 3)
        criteria = result.get("criteria") or {}

        def limit(key: str, criteria: dict = criteria) -> str | None:
            c = criteria.get(key) or {}
            return f"{c['count']} {c['period']}" if c.get("count") else None

        rows.append((provider, table, result.get("max_loaded_at"), result.get("snapshotted_at"),
                     result.get("max_loaded_at_time_ago_in_s"), result.get("status"), limit("warn_after"), limit("error_after")))
    return rows


def publish() -> Path:
    """Copy marts and tiles (and the last source-freshness result) into a fresh DuckDB file, then atomically swap it
    in as `bi.duckdb`."""
    target = tiles_path()
    import duckdb  # here, not at the top: the transform DAG file imports this module's names at parse time

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
        if freshness_path().exists():
            con.execute(f"create schema if not exists {FRESHNESS_SCHEMA}")
            con.execute(
                f"create table {FRESHNESS_SCHEMA}.source_freshness (provider varchar, source_table varchar, "
                "max_loaded_at timestamptz, snapshotted_at timestamptz, age_seconds double, status varchar, "
                "warn_after varchar, error_after varchar)"
            )
            rows = freshness_rows(freshness_path())
            if rows:
                con.executemany(f"insert into {FRESHNESS_SCHEMA}.source_freshness values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    finally:
        con.close()
    os.replace(tmp, target)
    return target
