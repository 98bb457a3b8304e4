"""The `transform` DAG: dbt through Cosmos, scheduled on the raw Assets, then `publish()` of the tiles snapshot.

- Tasks: the dbt build (below) and `source_freshness` (dbt's `dbt source freshness`) side by side, then `publish`,
  which waits for both. Freshness reads only the raw files (the `freshness` target of profiles.yml opens no
  warehouse), so it does not depend on the build, needs no warehouse lock and sits outside the warehouse pool: under
  a scheduler it runs during the build instead of after it. (`airflow dags test` runs one task at a time, so there
  the two still take turns.) On 2 cores the overlap is partial: the build's DuckDB queries use both cores at times.

- Execution, `OPSDATA_COSMOS_MODE`:
  - `build` (default): one Cosmos `DbtBuildLocalOperator` task, one `dbt build` of the whole project. dbt orders
    models and tests and fails fast itself (a failing test skips everything that depends on it and fails the task, so
    `publish` never runs); each model's and test's result is in that task's log. Chosen because per-model tasks cost
    more than the build here: the watcher renders ~230 tasks (a sensor per model and per model's tests) and every
    task instance is a task start (a forked supervisor under a scheduler, an in-process run under `dags test`).
    `python -m bench.bench_transform --executor` (2026-12-04, medium world, 2 cores, load ~2): this mode's DagRun
    1.67 x a plain `dbt build` + publish under `dags test` (tasks one at a time), 1.24 x through a LocalExecutor
    (freshness beside the build); the watcher 2.09 x (2026-12-01, busy machine).
  - `watcher`: `ExecutionMode.WATCHER`, one `dbt build` producer and a sensor per model and per model's tests
    mirroring each result, so each model is its own task in the UI: for a deployment with workers to spare.
  - `local`: `ExecutionMode.LOCAL`, one `dbt build --select <model>` per task: the fallback if the watcher misbehaves.
- `watcher` and `local` render from a manifest built ahead of time (`LoadMode.DBT_MANIFEST`, see
  `dagkit/manifest.py`): no `dbt ls` at parse time. `build` renders nothing and needs no manifest.
- DuckDB: every dbt process goes through `dagkit/dbt_with_locks.py` (shared locks on the raw files, exclusive lock on
  the warehouse), and the dbt writer tasks sit in the 1-slot `duckdb_warehouse` pool.
- Profile paths are absolute (`OPSDATA_DATA_DIR`, `OPSDATA_REPO_ROOT`): Cosmos runs dbt from a temporary copy of the
  project, where relative paths would point elsewhere. No dbt packages: `install_dbt_deps=False`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, AssetAny

from dagkit.assets import TILES
from dagkit.defaults import START_DATE, default_args, late_run_alert
from dagkit.paths import DAGS_DIR, DBT_PROJECT_DIR, REPO_ROOT, data_dir, manifest_path

DAG_ID = "transform"
WAREHOUSE_POOL = "duckdb_warehouse"  # same name as airflow_settings.pools.WAREHOUSE_POOL
DBT_WRAPPER = DAGS_DIR / "dagkit" / "dbt_with_locks.py"


COSMOS_MODES = ("build", "watcher", "local")


def cosmos_mode() -> str:
    mode = os.environ.get("OPSDATA_COSMOS_MODE", "build").lower()
    if mode not in COSMOS_MODES:
        raise ValueError(f"OPSDATA_COSMOS_MODE={mode!r}: expected one of {', '.join(COSMOS_MODES)}")
    return mode


def dbt_env() -> dict[str, str]:
    """Environment every dbt process gets (absolute paths; the venv's bin first so the wrapper finds its Python)."""
    import sys

    bin_dir = str(Path(sys.executable).parent)
    return {
        "OPSDATA_DATA_DIR": str(data_dir()),
        "OPSDATA_REPO_ROOT": str(REPO_ROOT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def dbt_vars() -> dict[str, str]:
    """`as_of_date` pins the metrics' 'today' (the sandbox world has a fixed reference date); unset in production."""
    as_of = os.environ.get("OPSDATA_AS_OF_DATE")
    return {"as_of_date": as_of} if as_of else {}


def check_source_freshness() -> str:
    """Task body: dbt's own `dbt source freshness` (through the lock wrapper); its result is published with the
    tiles (`ops.source_freshness`). Stale data is reported, never a reason to hold back the snapshot. It reads only
    the raw files (the `freshness` target opens no warehouse), so it runs beside the build, outside the warehouse pool."""
    import sys

    from pipelines.transform import source_freshness

    path = source_freshness(as_of_date=dbt_vars().get("as_of_date"), dbt_command=[sys.executable, str(DBT_WRAPPER)])
    return str(path) if path else "dbt wrote no freshness result"


def publish_tiles(**context: Any) -> dict[str, Any]:
    """Task body: copy marts + tiles into `bi.duckdb` (atomic swap) while no dbt process writes the warehouse."""
    from dagkit.locks import WAREHOUSE_LOCK, duckdb_locks
    from pipelines.transform import publish

    with duckdb_locks(shared=[WAREHOUSE_LOCK]):
        path = publish()
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables where table_schema = 'tiles' order by 1"
        ).fetchall()
    finally:
        con.close()
    result = {"path": str(path), "tiles": [t for (t,) in tables]}
    context["outlet_events"][TILES].extra = result
    print(f"published {len(tables)} tile tables to {path}")
    return result


def _profile_config() -> Any:
    from cosmos import ProfileConfig

    from pipelines.transform import DBT_PROFILE, DBT_TARGET

    return ProfileConfig(profile_name=DBT_PROFILE, target_name=DBT_TARGET, profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml")


def build_cache_dir() -> Path:
    """Where Cosmos keeps the build task's last `partial_parse.msgpack`."""
    from cosmos import settings as cosmos_settings

    return Path(cosmos_settings.cache_dir) / f"{DAG_ID}__dbt_build"


def dbt_build_task(dag: DAG) -> Any:
    """One Cosmos `dbt build` of the whole project (`DbtBuildLocalOperator`): models, tests, seeds, in dbt's order,
    with dbt's own fail-fast (a failing test skips what depends on it, and fails the task, so `publish` never runs).
    Every model's and test's result is in the task log, as dbt prints it."""
    from cosmos.constants import InvocationMode
    from cosmos.operators.local import DbtBuildLocalOperator

    return DbtBuildLocalOperator(
        task_id="dbt_build",
        dag=dag,
        project_dir=str(DBT_PROJECT_DIR),
        profile_config=_profile_config(),
        dbt_executable_path=str(DBT_WRAPPER),
        invocation_mode=InvocationMode.SUBPROCESS,  # dbt in its own process: the DuckDB file locks die with it
        install_deps=False,
        env=dbt_env(),
        append_env=True,
        vars=dbt_vars(),
        emit_datasets=False,  # we declare our own Assets
        # Where Cosmos keeps the last run's `partial_parse.msgpack`, so the next `dbt build` may re-parse only what
        # changed (dbt decides; it parses in full when the vars or the profile differ).
        cache_dir=build_cache_dir(),
        pool=WAREHOUSE_POOL,
    )


def dbt_task_group(dag: DAG, *, manifest: Path, mode: str | None = None) -> Any:
    from cosmos import DbtTaskGroup, ExecutionConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    mode = mode or cosmos_mode()
    execution_mode = ExecutionMode.WATCHER if mode == "watcher" else ExecutionMode.LOCAL
    operator_args: dict[str, Any] = {"append_env": True}  # no dbt deps: ProjectConfig.install_dbt_deps below
    setup_operator_args: dict[str, Any] | None = None
    if execution_mode is ExecutionMode.LOCAL:
        operator_args["pool"] = WAREHOUSE_POOL  # every task is a dbt writer
    else:
        # Only the producer writes; the sensors just watch it. Cosmos skips a retried producer rather than run a
        # second `dbt build`, so a retry would hide a failure: the producer gets none (the sensors report per model).
        setup_operator_args = {"pool": WAREHOUSE_POOL, "retries": 0}
    project_config = ProjectConfig(
        dbt_project_path=DBT_PROJECT_DIR,
        manifest_path=manifest,
        install_dbt_deps=False,
        env_vars=dbt_env(),
        dbt_vars=dbt_vars(),
    )
    # Read the local manifest through a plain Path: Cosmos wraps it in an ObjectStoragePath, whose first use loads
    # every Airflow plugin (FastAPI included) inside the parse of this file, doubling its parse time.
    project_config.manifest_path = manifest
    group = DbtTaskGroup(
        group_id="dbt",
        dag=dag,
        project_config=project_config,
        profile_config=_profile_config(),
        execution_config=ExecutionConfig(
            execution_mode=execution_mode,
            invocation_mode=InvocationMode.SUBPROCESS,  # dbt in its own process: the DuckDB file locks die with it
            dbt_executable_path=str(DBT_WRAPPER),
            setup_operator_args=setup_operator_args,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            invocation_mode=InvocationMode.SUBPROCESS,  # rendering never runs dbt here; skips a PATH-dependent check
            # LOCAL: `dbt build` per model (model + its tests in one task). WATCHER: the producer's single `dbt build`
            # runs models and tests; a sensor per model and per model's tests mirrors each result.
            test_behavior=TestBehavior.BUILD if execution_mode is ExecutionMode.LOCAL else TestBehavior.AFTER_EACH,
            emit_datasets=False,  # we declare our own Assets (Cosmos' alias-based ones: cosmos#1591, #1799)
        ),
        operator_args=operator_args,
    )
    if execution_mode is ExecutionMode.WATCHER:
        _start_sensors_after_producer(group)
    return group


def _start_sensors_after_producer(group: Any) -> None:
    """Make the watcher's root sensors wait for the producer's `dbt build` to finish (trigger rule `all_done`).

    Cosmos does this for `DbtDag` but not for `DbtTaskGroup`: there the sensors start beside the producer and poll
    its XCom. Under `airflow dags test` (every task in one process, one at a time) a sensor picked before the
    producer then polls forever. Waiting costs nothing in the UI: each sensor still shows its model's own result.
    """
    from cosmos.constants import PRODUCER_WATCHER_TASK_ID

    producer = group.tasks_map[PRODUCER_WATCHER_TASK_ID]
    members = {t.task_id for t in group.dag.tasks if t.task_id.startswith(f"{group.group_id}.")}
    for task in group.dag.tasks:
        if task.task_id not in members or not hasattr(task, "producer_task_id"):
            continue
        if not task.upstream_task_ids & members:
            producer >> task
            task.trigger_rule = "all_done"


def build_transform_dag(raw_assets: list[Asset], *, manifest: Path | None = None, mode: str | None = None) -> DAG:
    mode = mode or cosmos_mode()
    manifest = manifest or manifest_path()
    if mode != "build" and not manifest.exists():
        raise FileNotFoundError(
            f"dbt manifest not found at {manifest}: build it with `cd dags && python -m dagkit.manifest` "
            "(the demo and the Docker image do this)"
        )
    with DAG(
        dag_id=DAG_ID,
        description="dbt build (Cosmos) on new raw data, then publish the tiles snapshot",
        doc_md=__doc__,
        schedule=AssetAny(*raw_assets) if raw_assets else None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=2),
        default_args=default_args(execution_timeout=timedelta(hours=1), retries=2),
        deadline=late_run_alert(DAG_ID, timedelta(hours=1)),
        tags=["transform", "dbt"],
    ) as dag:
        dbt = dbt_build_task(dag) if mode == "build" else dbt_task_group(dag, manifest=manifest, mode=mode)
        # Not in the warehouse pool: it reads only the raw files, so it runs beside the build (freshness does not
        # depend on it) and the publish waits for both.
        source_freshness = PythonOperator(task_id="source_freshness", python_callable=check_source_freshness)
        publish = PythonOperator(
            task_id="publish", python_callable=publish_tiles, pool=WAREHOUSE_POOL, outlets=[TILES]
        )
        [dbt, source_freshness] >> publish
    return dag
