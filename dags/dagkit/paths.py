"""Paths the DAGs need at parse time, computed without side effects (no folder creation, no DB)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(os.environ.get("OPSDATA_REPO_ROOT") or Path(__file__).resolve().parents[2]).resolve()
DAGS_DIR = REPO_ROOT / "dags"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


def data_dir() -> Path:
    """Same rule as `pipelines.common.storage.data_dir`, but without creating the folder (parse time)."""
    return Path(os.environ.get("OPSDATA_DATA_DIR") or REPO_ROOT / "data").resolve()


def manifest_path() -> Path:
    """The dbt manifest Cosmos renders the transform DAG from; built ahead of time by `dagkit.manifest`."""
    return Path(os.environ.get("OPSDATA_DBT_MANIFEST") or DBT_PROJECT_DIR / "target" / "manifest.json")
