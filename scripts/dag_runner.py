"""Run several DAG runs the way `airflow dags test` does, from one warm Airflow process (the demo's engine).

    python scripts/dag_runner.py '{"stages": [["extract_a", "extract_b"], ["transform"], ["notify"]]}'

Every run is `DAG.test()`, the very function behind `airflow dags test`: the real DAGs, the metadata DB, the same
scheduling loop and task runner. What is not repeated is the start-up around it. Each `airflow dags test` imported
Airflow, parsed and synced the whole DAG bundle twice (once to find the DAG, once inside `DAG.test()`) and built the
in-process Execution API (a Cadwyn app that generates its versioned routers on its first request) before its first
task: 15-50 s a run on a busy 2-core machine, most of the demo's Airflow overhead. Here that is done once, then each
run is a `fork()` of this process (own process, own log, own exit status; the runs of a stage side by side, as a
scheduler would run them) that inherits all of it.

Set-up, in order, before the first run: import Airflow; start `dbt parse` in the background when the transform DAG
renders from its manifest (`OPSDATA_COSMOS_MODE` watcher or local, see `dags/dagkit/transform.py`); read the caller's
environment (`--env-from-stdin`: the sandbox's date, which the DAGs read at parse time); `airflow db migrate`
(`airflow.utils.db.upgradedb`, what the CLI calls); the pools; wait for the manifest; register
the bundle in the metadata DB (what `airflow dags reserialize` does: one writer, so parallel runs on a fresh DB never
race to insert the same DAG rows, issue 15); build the Execution API app.

Progress goes to the original stdout as JSON lines, one per step start and end (`{"step", "state", "seconds", "ok",
"log", ...}`); Airflow's own output goes to `<logs>/runner.log` and each run's to its own file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "dags")]

WATCHER_SENSOR_MARK = "WatcherSensor"
"""Cosmos' per-model watcher sensors (`DbtConsumerWatcherSensor`, `DbtTestWatcherSensor`...): they mirror results
the producer's `dbt build` already has, so their time is orchestration, not work."""


RUNNING: set[int] = set()
"""The forked runs still going: stopped with this process (SIGTERM from the demo, e.g. after Ctrl-C)."""


def _stop_runs(signum: int, frame: object) -> None:
    for pid in RUNNING:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    os._exit(128 + signum)


class Events:
    """JSON lines on a file descriptor the caller reads (the demo): one per step start and end."""

    def __init__(self, fd: int) -> None:
        self._out = os.fdopen(fd, "w", buffering=1)

    def emit(self, **event: Any) -> None:
        self._out.write(json.dumps(event, default=str) + "\n")
        self._out.flush()


@dataclass
class Step:
    events: Events
    name: str
    log: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __enter__(self) -> Step:
        self.started = time.monotonic()
        self.events.emit(step=self.name, state="start")
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        ok = exc_type is None
        self.events.emit(step=self.name, state="end", ok=ok, seconds=round(time.monotonic() - self.started, 3),
                         log=str(self.log) if self.log else None, error=None if ok else repr(exc), **self.extra)


def _redirect_output(path: Path) -> None:
    """Point this process's stdout and stderr (file descriptors, so child processes and C code too) at `path`."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def start_manifest_build(logs: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = logs / "dbt_manifest.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dagkit.manifest"], cwd=REPO_ROOT / "dags", stdout=out,
                                stderr=subprocess.STDOUT)
    return proc, log


def migrate_db() -> None:
    from airflow.utils import db

    db.upgradedb()


def register_bundle() -> Any:
    """Parse the bundle once and write it to the metadata DB (`airflow dags reserialize`); return the DagBag."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    with create_session() as session:
        manager = DagBundlesManager()
        manager.sync_bundles_to_db(session=session)
        session.commit()
        (bundle,) = manager.get_all_dag_bundles()  # the demo's one bundle, `dags-folder`
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        if bag.import_errors:
            raise RuntimeError(f"DAG import errors: {bag.import_errors}")
        sync_bag_to_db(bag, bundle.name, bundle.version, session=session)  # as DAG.test() does
    return bag


def warm_execution_api() -> None:
    """Build the in-process Execution API app that every task run talks to, in full, before any fork.

    The app is a Cadwyn app (versioned FastAPI): it generates its routers for every API version lazily, on its first
    request, which took 10-20 s of a busy 2-core machine in each run's first task. Done here once (Cadwyn's own
    initialiser; if it is renamed, the first request does it as before). Only the app: its transport starts an
    event-loop thread, which a forked child could not use, so each run builds its own."""
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    app = in_process_api_server().app
    initialize = getattr(app, "_cadwyn_initialize", None)
    if callable(initialize) and getattr(app, "_cadwyn_initialized", True) is False:
        initialize()


def task_intervals(dag_id: str, run_id: str) -> list[dict[str, Any]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id).all()
        return [
            {"task_id": ti.task_id, "operator": ti.operator, "state": str(ti.state),
             "start": ti.start_date.timestamp() if ti.start_date else None,
             "end": ti.end_date.timestamp() if ti.end_date else None}
            for ti in tis
        ]


def _reuse_registered_bundle(bag: Any) -> None:
    """Let `DAG.test()` reuse the bundle this process parsed and synced at start instead of doing it again.

    `DAG.test()` re-parses and re-syncs the whole bundle on every call so that sibling DAGs are in the metadata DB
    (apache/airflow#64884): 3-6 s a run on a busy machine with the watcher's Cosmos render, 2-3 s without it. `register_bundle()` did
    exactly that for the same files moments ago, so in this forked child (one run, then exit) the re-sync is handed
    the parent's bag and skipped. If Airflow renames these, the patch does nothing and the run pays the re-parse.
    """
    import airflow.dag_processing.dagbag as dagbag_module

    if hasattr(dagbag_module, "BundleDagBag") and hasattr(dagbag_module, "sync_bag_to_db"):
        dagbag_module.BundleDagBag = lambda *args, **kwargs: bag  # type: ignore[assignment,misc]
        dagbag_module.sync_bag_to_db = lambda *args, **kwargs: None  # type: ignore[assignment]


def _run_in_child(dag: Any, bag: Any, log: Path, result_path: Path, mark_success_pattern: str | None) -> int:
    """In the forked child: one `DAG.test()` (as `airflow dags test <dag_id>`), its output in `log`."""
    _redirect_output(log)
    from airflow.sdk import timezone
    from airflow.utils.state import DagRunState

    try:
        _reuse_registered_bundle(bag)
        dr = dag.test(logical_date=timezone.utcnow(), mark_success_pattern=mark_success_pattern)
        result = {"run_id": dr.run_id, "state": str(dr.state), "tasks": task_intervals(dag.dag_id, dr.run_id)}
        result_path.write_text(json.dumps(result))
        return 1 if dr.state == DagRunState.FAILED else 0
    except BaseException:
        import traceback

        traceback.print_exc()
        return 1


def run_stage(events: Events, bag: Any, dag_ids: list[str], logs: Path, first_log_no: int,
              mark_success_pattern: str | None) -> bool:
    """Fork one child per DAG of the stage (side by side), wait for all; True when every run succeeded."""
    from airflow import settings

    dags = bag.dags
    missing = [d for d in dag_ids if d not in dags]
    if missing:
        raise SystemExit(f"dag_runner: no such DAG(s): {', '.join(missing)}")
    children: dict[int, tuple[str, Path, Path, float]] = {}
    for n, dag_id in enumerate(dag_ids):
        log = logs / f"{first_log_no + n:02d}-dag_{dag_id}.log"
        result_path = log.with_suffix(".json")
        settings.reconfigure_orm()  # no open DB connection may cross the fork
        events.emit(step=f"dag {dag_id}", state="start", log=str(log))
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 1
            try:
                code = _run_in_child(dags[dag_id], bag, log, result_path, mark_success_pattern)
            finally:
                os._exit(code)
        children[pid] = (dag_id, log, result_path, time.monotonic())
        RUNNING.add(pid)
    all_ok = True
    while children:
        pid, status = os.wait()
        if pid not in children:
            continue
        dag_id, log, result_path, started = children.pop(pid)
        RUNNING.discard(pid)
        ok = os.waitstatus_to_exitcode(status) == 0
        all_ok &= ok
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
        events.emit(step=f"dag {dag_id}", state="end", ok=ok, seconds=round(time.monotonic() - started, 3),
                    log=str(log), dag_id=dag_id, run_id=result.get("run_id"), run_state=result.get("state"),
                    tasks=result.get("tasks", []), ended_at=time.time())
    return all_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plan", help='JSON: {"stages": [[dag_id, ...], ...], "mark_success_pattern": null}')
    parser.add_argument("--logs", type=Path, default=Path.cwd())
    parser.add_argument("--events-fd", type=int, default=None, help="where the JSON lines go (default: stdout)")
    parser.add_argument("--env-from-stdin", action="store_true",
                        help="before parsing the DAGs, read one JSON object of environment variables from stdin "
                        "(the demo sends the sandbox's date once the sandbox is up, so both start together)")
    args = parser.parse_args()
    plan = json.loads(args.plan)
    logs: Path = args.logs
    logs.mkdir(parents=True, exist_ok=True)

    signal.signal(signal.SIGTERM, _stop_runs)
    events = Events(args.events_fd if args.events_fd is not None else os.dup(1))
    _redirect_output(logs / "runner.log")

    with Step(events, "airflow start (import, config)", log=logs / "runner.log"):
        import airflow.sdk  # noqa: F401 (configures Airflow: settings, ORM, logging)
        from airflow.providers_manager import ProvidersManager

        ProvidersManager().initialize_providers_configuration()
    from dagkit.transform import cosmos_mode

    # Only the watcher and local modes render the transform DAG from the manifest; `build` has no use for it.
    manifest = start_manifest_build(logs) if cosmos_mode() != "build" else None
    if args.env_from_stdin:
        with Step(events, "wait for the caller's environment (stdin)"):
            os.environ.update(json.loads(sys.stdin.readline() or "{}"))
    with Step(events, "airflow db migrate", log=logs / "runner.log"):
        migrate_db()
    with Step(events, "pools", log=logs / "runner.log"):
        from airflow_settings.pools import create_pools

        create_pools()
    if manifest is not None:
        proc, manifest_log = manifest
        with Step(events, "dbt manifest (dbt parse)", log=manifest_log):
            if proc.wait() != 0:
                raise SystemExit(f"dbt parse failed: see {manifest_log}")
    with Step(events, "register DAGs (parse + sync bundle)", log=logs / "runner.log"):
        bag = register_bundle()
    if plan.get("stages"):
        with Step(events, "execution API (once)", log=logs / "runner.log"):
            warm_execution_api()
    log_no = 1
    for stage in plan.get("stages", []):
        if not run_stage(events, bag, stage, logs, log_no, plan.get("mark_success_pattern")):
            return 1
        log_no += len(stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
