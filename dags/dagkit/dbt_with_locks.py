#!/usr/bin/env python3
"""Run dbt while holding the DuckDB file locks dbt needs: `dbt_with_locks.py <dbt args...>`.

Cosmos calls this file as its `dbt_executable_path` (and so do the demo and the bench), so every dbt process holds
shared locks on all raw files (it attaches them read-only) and the exclusive warehouse lock while it runs. See
`dagkit/locks.py`. `source freshness` on the `freshness` target opens no warehouse (profiles.yml), so it takes only
the shared raw locks and runs beside a build. The dbt executable is the one beside this Python interpreter, or `OPSDATA_DBT_EXECUTABLE`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from dagkit.locks import WAREHOUSE_LOCK, duckdb_locks, raw_lock_name  # noqa: E402


def dbt_executable() -> str:
    explicit = os.environ.get("OPSDATA_DBT_EXECUTABLE")
    if explicit:
        return explicit
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def _target(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg in ("--target", "-t") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--target="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str]) -> int:
    from pipelines.registry import extraction_providers

    readers = [raw_lock_name(p.name) for p in extraction_providers()]
    # Only commands that open the warehouse need the locks; `dbt parse`/`--version` run freely.
    needs_locks = bool(argv) and argv[0] in {"build", "run", "test", "seed", "snapshot", "source", "show", "compile", "run-operation"}
    if not needs_locks:
        return subprocess.call([dbt_executable(), *argv])
    warehouse = [] if argv[0] == "source" and _target(argv) == "freshness" else [WAREHOUSE_LOCK]
    with duckdb_locks(exclusive=warehouse, shared=readers):
        return subprocess.call([dbt_executable(), *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
