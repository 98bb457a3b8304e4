"""Airflow test harness: a throw-away AIRFLOW_HOME with a SQLite metadata DB, the repo's dags/ and plugins/.

Airflow reads its configuration when first imported, so the environment is set when this conftest is imported
(before any test module of this folder imports Airflow). `dag.test()` runs every task in this process, so tests can
register fake providers with monkeypatch and see them inside tasks.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO_ROOT / "dags"
_HOME = Path(tempfile.mkdtemp(prefix="opsdata-airflow-"))

os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_DIR)
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO_ROOT / "plugins")
os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
os.environ["OPSDATA_DBT_MANIFEST"] = str(_HOME / "dbt_manifest" / "manifest.json")
# dag.test() on Airflow 3.3.2 crashes on DAGs with deadline alerts (see dagkit.defaults.deadline_alerts_enabled);
# test_dagbag.py parses them with alerts on, in a subprocess.
os.environ["OPSDATA_DEADLINE_ALERTS"] = "false"
os.environ["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"  # offline: no usage pings
os.environ.setdefault("OPSDATA_REPO_ROOT", str(REPO_ROOT))
if str(DAGS_DIR) not in sys.path:
    sys.path.append(str(DAGS_DIR))  # as Airflow does for the DAG bundle: `import dagkit`


def airflow_env(**extra: str) -> dict[str, str]:
    """The environment for an Airflow subprocess of these tests."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(DAGS_DIR)])
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """The manifest Cosmos renders the transform DAG from, built once per session with `dbt parse`."""
    from dagkit.manifest import build_manifest

    return build_manifest()


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path, dbt_manifest: Path) -> Path:
    """A migrated SQLite metadata DB with the pools the DAGs use."""
    from airflow.utils import db

    db.initdb()
    return airflow_home


@pytest.fixture
def pools(airflow_db: Path) -> list[str]:
    """(Re)create the pools for the current registry (tests may have registered a fake provider)."""
    from airflow_settings.pools import create_pools

    return [p.name for p in create_pools()]


@pytest.fixture
def fake_provider(monkeypatch: pytest.MonkeyPatch, warehouse: Path) -> Iterator[FakeApi]:  # noqa: F821
    """Register the `fakeshop` provider (registry entry + pipeline + sandbox modules) for this test only."""
    from tests.dags import fake_provider as fake

    api = fake.install(monkeypatch)
    yield api


def load_dag(dag_id: str):  # type: ignore[no-untyped-def]
    """Parse the real DAG folder (as the dag-processor does) and return one DAG."""
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(dag_folder=str(DAGS_DIR), bundle_path=DAGS_DIR, bundle_name="dags-folder")
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags[dag_id]
