"""Build the dbt manifest Cosmos renders the transform DAG from: `python -m dagkit.manifest` (from `dags/`).

Cosmos' `LoadMode.DBT_MANIFEST` reads this file at parse time instead of running `dbt ls` in the dag-processor
(slow, and its Variable cache misbehaves there: astronomer-cosmos#2551, #2723). Run it whenever the dbt project
changes: the demo does when it runs a mode that renders from it (`OPSDATA_COSMOS_MODE=watcher|local`), the Docker
image does at build time, CI does before the DagBag test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from dagkit.paths import DBT_PROJECT_DIR, REPO_ROOT, data_dir, manifest_path


def build_manifest(target: Path | None = None) -> Path:
    """Run `dbt parse` into the manifest's folder (no warehouse connection) and return the manifest path."""
    target = target or manifest_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("OPSDATA_DATA_DIR", str(data_dir()))
    env.setdefault("OPSDATA_REPO_ROOT", str(REPO_ROOT))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    dbt = Path(sys.executable).with_name("dbt")
    cmd = [str(dbt) if dbt.exists() else "dbt", "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(target.parent), "--log-path", str(target.parent / "logs")]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
    built = target.parent / "manifest.json"
    if result.returncode != 0 or not built.exists():
        raise RuntimeError(f"dbt parse failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    if built != target:
        os.replace(built, target)
    return target


if __name__ == "__main__":
    started = time.monotonic()
    path = build_manifest()
    print(f"dbt manifest: {path} ({time.monotonic() - started:.1f}s)")
