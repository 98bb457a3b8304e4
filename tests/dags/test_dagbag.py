"""Every DAG file imports cleanly without heavy imports, and the DAGs carry the settings production relies on.
How long a parse takes is a benchmark figure (`python -m bench.bench_dag_parse`), not something a test asserts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dags.conftest import DAGS_DIR, airflow_env

_PARSE_SCRIPT = r"""
import json, sys
import airflow.sdk  # the dag-processor has Airflow loaded before it parses a file
from airflow.dag_processing.dagbag import BundleDagBag
from pathlib import Path
dags, name = Path(sys.argv[1]), sys.argv[2]
before = set(sys.modules)
bag = BundleDagBag(dag_folder=str(dags / name), bundle_path=dags, bundle_name="dags-folder")
(stat,) = bag.dagbag_stats
# What a DAG file may import: the registry and the providers' light contract modules (provider.py, settings.py).
# Not dlt, DuckDB, SDKs, a provider's source or the Slack client: those belong inside tasks.
heavy = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in {"dlt", "duckdb", "stripe", "slack_sdk",
        "facebook_business", "requests"} or m == "pipelines.run" or m.startswith("notifications.") and m not in
        {"notifications.destinations"} or m.startswith("pipelines.") and m.split(".")[-1] in {"source", "helpers"})
print(json.dumps({"errors": bag.import_errors, "dags": sorted(bag.dags),
                  "deadlines": {d: bool(bag.dags[d].deadline) for d in bag.dags}, "heavy": heavy}))
"""

DAG_FILES = ("extract.py", "transform.py", "sync.py", "notify.py")


def _parse_in_fresh_process(name: str, **env: str) -> dict:
    """Parse one DAG file in a new process, as the dag-processor does: what it imports is what it alone imports."""
    out = subprocess.run(
        [sys.executable, "-c", _PARSE_SCRIPT, str(DAGS_DIR), name], env=airflow_env(**env), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dag_files_import_without_errors_or_heavy_imports(dbt_manifest: Path) -> None:
    assert sorted(p.name for p in DAGS_DIR.glob("*.py")) == sorted(DAG_FILES)
    results = {name: _parse_in_fresh_process(name, OPSDATA_DEADLINE_ALERTS="true") for name in DAG_FILES}  # as in production
    for name, result in results.items():
        assert result["errors"] == {}, name
        # Parsing must not import provider code, dlt, DuckDB or Slack: those belong inside tasks (what keeps it fast).
        assert result["heavy"] == [], (name, result["heavy"])
        assert result["dags"] and all(result["deadlines"].values()), (name, result["deadlines"])
    from pipelines.registry import extraction_providers

    providers = extraction_providers()
    expected = {p.dag_id for p in providers} | {f"reconcile_{p.name}" for p in providers if p.reconcile_schedule}
    assert set(results["extract.py"]["dags"]) == expected
    assert results["transform.py"]["dags"] == ["transform"]
    assert results["notify.py"]["dags"] == ["notify"]
    from pipelines.registry import syncing_providers

    assert set(results["sync.py"]["dags"]) == {f"sync_{p.name}" for p in syncing_providers()}


def test_every_dag_has_production_settings(airflow_db: Path, pools: list[str]) -> None:
    from airflow.dag_processing.dagbag import BundleDagBag
    from dagkit.assets import TILES
    from dagkit.defaults import notify_failure, notify_success
    from dagkit.extract import raw_asset

    from pipelines.registry import extraction_providers

    bag = BundleDagBag(dag_folder=str(DAGS_DIR), bundle_path=DAGS_DIR, bundle_name="dags-folder", known_pools=set(pools))
    assert bag.import_errors == {}
    for dag in bag.dags.values():
        assert dag.tags, dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id
        assert dag.catchup is False
        assert dag.doc_md
        for task in dag.tasks:
            if task.task_id.endswith("dbt_producer_watcher"):
                assert task.retries == 0  # Cosmos skips a retried producer: a retry would hide the failure
            else:
                assert task.retries >= 2, task.task_id
                assert task.retry_exponential_backoff, task.task_id
            assert task.execution_timeout is not None, task.task_id
            assert notify_failure in task.on_failure_callback, task.task_id
            assert notify_success in task.on_success_callback, task.task_id
            assert task.pool in pools or task.pool == "default_pool", (task.task_id, task.pool)

    for provider in extraction_providers():
        dag = bag.dags[provider.dag_id]
        task = dag.get_task("extract")
        assert {t.task_id for t in dag.tasks} == {"extract", *(["alerts"] if provider.alerts is not None else [])}
        assert task.pool == provider.pool
        assert task.outlets == [raw_asset(provider)]
        assert dag.timetable.expression == provider.schedule  # a cron with data intervals (backfills reload them)
        assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"

    transform = bag.dags["transform"]
    scheduled_on = {a.uri for a in transform.timetable.asset_condition.objects}
    assert scheduled_on == {p.asset_uri for p in extraction_providers()}
    publish = transform.get_task("publish")
    assert publish.outlets == [TILES]
    assert publish.pool == "duckdb_warehouse"
    # The default mode: one Cosmos `dbt build` (see dagkit/transform.py), a warehouse writer, gating the publish;
    # `source_freshness` reads only the raw files, so it runs beside the build, outside the warehouse pool, and the
    # publish waits for both (it never fails for staleness).
    dbt_build = transform.get_task("dbt_build")
    assert type(dbt_build).__name__ == "DbtBuildLocalOperator"
    assert dbt_build.pool == "duckdb_warehouse"
    assert dbt_build.downstream_task_ids == {"publish"}
    freshness = transform.get_task("source_freshness")
    assert freshness.upstream_task_ids == set()
    assert freshness.downstream_task_ids == {"publish"}
    assert freshness.pool != "duckdb_warehouse"
    assert publish.upstream_task_ids == {"dbt_build", "source_freshness"}

    notify = bag.dags["notify"]
    assert {a.uri for a in _flatten(notify.timetable.asset_condition)} == {TILES.uri}
    assert {t.task_id for t in notify.tasks} == {"check_provider_health", "send_daily_digest", "send_weekly_digest", "send_approval_reminders"}


def test_watcher_mode_renders_every_model_and_gates_the_publish(airflow_db: Path, pools: list[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`OPSDATA_COSMOS_MODE=watcher`: a task per model and per model's tests behind one producer `dbt build`."""
    from airflow.dag_processing.dagbag import BundleDagBag

    monkeypatch.setenv("OPSDATA_COSMOS_MODE", "watcher")
    bag = BundleDagBag(dag_folder=str(DAGS_DIR / "transform.py"), bundle_path=DAGS_DIR, bundle_name="dags-folder",
                       known_pools=set(pools))
    assert bag.import_errors == {}
    transform = bag.dags["transform"]
    dbt_tasks = [t for t in transform.tasks if t.task_id.startswith("dbt.")]
    assert len(dbt_tasks) > 5
    producer = transform.get_task("dbt.dbt_producer_watcher")
    assert producer.pool == "duckdb_warehouse"
    assert producer.retries == 0  # Cosmos skips a retried producer: a retry would hide the failure
    # Every leaf of the dbt group gates the publish: a failing model or test keeps the last good snapshot.
    leaves = [t for t in dbt_tasks if not t.downstream_task_ids - {"publish"} and t.task_id != "dbt.dbt_producer_watcher_done"]
    assert leaves and all("publish" in t.downstream_task_ids for t in leaves)
    # Freshness reads only the raw files: beside the dbt group, not after it.
    assert transform.get_task("source_freshness").upstream_task_ids == set()
    assert transform.get_task("source_freshness").downstream_task_ids == {"publish"}


def test_an_unknown_cosmos_mode_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagkit.transform import cosmos_mode

    monkeypatch.setenv("OPSDATA_COSMOS_MODE", "wacher")
    with pytest.raises(ValueError, match="OPSDATA_COSMOS_MODE='wacher'"):
        cosmos_mode()


def test_dag_bundle_parse_is_stable_across_runs(airflow_db: Path) -> None:
    """Parsing twice gives the same DAG ids and task ids (no randomness, no time-dependence at parse time)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    def shape() -> dict[str, list[str]]:
        bag = BundleDagBag(dag_folder=str(DAGS_DIR), bundle_path=DAGS_DIR, bundle_name="dags-folder")
        return {d: sorted(t.task_id for t in bag.dags[d].tasks) for d in bag.dags}

    first = shape()
    assert shape() == first


def _flatten(condition):  # type: ignore[no-untyped-def]
    """The Assets in an asset condition (an Asset, or AssetAny/AssetAll of them)."""
    objects = getattr(condition, "objects", None)
    if objects is None:
        return [condition]
    return [a for o in objects for a in _flatten(o)]
