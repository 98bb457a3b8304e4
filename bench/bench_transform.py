"""Overhead of the `transform` DAG (dbt through Cosmos, under Airflow) against a plain `dbt build` of the same project.

    python -m bench.bench_transform [--scale medium] [--rounds 2] [--modes build[,watcher,local]] [--data DIR]
        [--executor] [--no-record]

Prepares a data folder once (every registry provider extracted from the sandbox, zero latency: extraction is not what
is measured; `--data` reuses one, e.g. a demo's), builds the dbt manifest, then alternates, `--rounds` times:
- plain: `dbt build` + `publish()` (the issue's yardstick), and the same + `dbt source freshness` (all the DAG does,
  without Airflow), wall time;
- the DAG: `airflow dags test transform` in a fresh process, per Cosmos mode (`OPSDATA_COSMOS_MODE`, see
  `dags/dagkit/transform.py`); reported both as the DagRun's own duration (from the metadata DB: queue to end, what a
  scheduler user sees) and as wall time including the CLI's start-up and parse. `dags test` runs one task at a time
  in its own process; `--executor` also runs each mode as `dags test --use-executor` (a LocalExecutor beside an
  `airflow api-server`): every task in its own supervised process and independent tasks side by side, as a
  scheduler runs them.
Also CPU seconds (user + system, the CLI included), which a busy machine inflates less than wall time. Prints
the best of each and the ratios DAG/plain, and records them (`bench/results/transform.json`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import Row, machine, record
from sandbox.env import client_env

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "dags")]


def _env(data: Path, home: Path, manifest: Path, as_of: str, mode: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "dags")]),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "OPSDATA_DATA_DIR": str(data),
        "OPSDATA_REPO_ROOT": str(REPO_ROOT),
        "OPSDATA_DBT_MANIFEST": str(manifest),
        "OPSDATA_AS_OF_DATE": as_of,
        "OPSDATA_DEADLINE_ALERTS": "false",
        "OPSDATA_COSMOS_MODE": mode,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    })
    return env


def _airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("airflow")), *args], env=env, capture_output=True, text=True)


API_PORT = 28793


def _executor_env(env: dict[str, str]) -> dict[str, str]:
    """A LocalExecutor whose task processes reach the Execution API of the api-server `_api_server` starts."""
    return env | {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # A few workers, not the default 32 (this DAG runs at most two tasks at once): with 32 the CLI was seen to
        # hang in the executor's shut-down after the run had finished.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{API_PORT}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": "bench-transform-only-" + "x" * 16,  # this throwaway metadata DB's
        "AIRFLOW__API__PORT": str(API_PORT),
    }


def _api_server(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    import urllib.request

    server = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), "api-server", "--port", str(API_PORT),
                               "--workers", "1"], env=_executor_env(env), stdout=log.open("wb"), stderr=subprocess.STDOUT)
    started = time.monotonic()
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{API_PORT}/api/v2/monitor/health", timeout=2)
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() - started > 300:
                server.kill()
                raise SystemExit(f"airflow api-server did not start, see {log}") from None
            time.sleep(1)


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its waited-for children: what a run cost the machine, which a
    shared, busy machine inflates far less than wall time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _last_run_seconds(env: dict[str, str]) -> float:
    """The last transform DagRun's duration as Airflow recorded it."""
    script = (
        "from airflow.models.dagrun import DagRun\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        "    r = s.query(DagRun).filter(DagRun.dag_id == 'transform').order_by(DagRun.id.desc()).first()\n"
        "    print((r.end_date - r.start_date).total_seconds(), r.state)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    seconds, state = out.stdout.strip().splitlines()[-1].split()
    if state != "success":
        raise RuntimeError(f"transform run ended {state}")
    return float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default="build", help="comma-separated Cosmos modes: build, watcher, local")
    parser.add_argument("--data", type=Path, help="an extracted data folder to reuse (copied: it is not modified)")
    parser.add_argument("--executor", action="store_true",
                        help="also run each mode with `dags test --use-executor` (LocalExecutor + api-server)")
    parser.add_argument("--no-record", action="store_true", help="print the figures only (experiments)")
    args = parser.parse_args()

    at_start = machine()
    work = Path(tempfile.mkdtemp(prefix="bench-transform-"))
    data, home = work / "data", work / "airflow_home"
    if args.data:
        shutil.copytree(args.data, data, ignore=shutil.ignore_patterns("locks", "*.tmp"))
    os.environ["OPSDATA_DATA_DIR"] = str(data)
    os.environ["OPSDATA_REPO_ROOT"] = str(REPO_ROOT)

    from dagkit.manifest import build_manifest

    from pipelines.registry import extraction_providers
    from pipelines.run import run_provider
    from sandbox.server import SandboxServer

    print(f"preparing {args.scale} world in {data} ...", flush=True)
    with SandboxServer(scale=args.scale, latency="zero") as sandbox:
        os.environ.update(client_env(sandbox.url))
        as_of = sandbox.world.now.date().isoformat()
        for provider in [] if args.data else extraction_providers():
            print("  " + run_provider(provider.name).describe(), flush=True)
    manifest = build_manifest(work / "manifest" / "manifest.json")
    nodes = json.loads(manifest.read_text())["nodes"].values()
    models, tests = (sum(1 for n in nodes if n["resource_type"] == kind) for kind in ("model", "test"))
    print(f"  data folder (reuse with --data): {data}")
    print(f"  dbt manifest: {manifest} ({models} models, {tests} tests)")

    env = _env(data, home, manifest, as_of, "watcher")
    if _airflow(env, "db", "migrate").returncode != 0:
        raise SystemExit("airflow db migrate failed")
    subprocess.run([sys.executable, "-m", "airflow_settings.pools"], env=env, check=True, capture_output=True)

    plain: list[float] = []
    plain_all: list[float] = []
    plain_cpu: list[float] = []
    # (Cosmos mode, through the executor?) per variant
    variants = {m: (m, False) for m in args.modes.split(",")}
    if args.executor:
        variants |= {f"{m}+executor": (m, True) for m in args.modes.split(",")}
    dag_run: dict[str, list[float]] = {v: [] for v in variants}
    dag_wall: dict[str, list[float]] = {v: [] for v in variants}
    dag_cpu: dict[str, list[float]] = {v: [] for v in variants}
    api_server = _api_server(env, work / "api-server.log") if args.executor else None
    try:
        _rounds(args, work, data, home, manifest, as_of, env, variants, plain, plain_all, plain_cpu, dag_run, dag_wall, dag_cpu)
    finally:
        if api_server is not None:
            api_server.terminate()
            api_server.wait(60)
    _report(args, at_start, variants, plain, plain_all, plain_cpu, dag_run, dag_wall, dag_cpu)


def _rounds(args: argparse.Namespace, work: Path, data: Path, home: Path, manifest: Path, as_of: str,
            env: dict[str, str], variants: dict[str, tuple[str, bool]], plain: list[float], plain_all: list[float],
            plain_cpu: list[float], dag_run: dict[str, list[float]], dag_wall: dict[str, list[float]],
            dag_cpu: dict[str, list[float]]) -> None:
    from pipelines.transform import publish, run_dbt, source_freshness

    for round_no in range(1, args.rounds + 1):
        started, cpu = time.monotonic(), _cpu_seconds()
        run_dbt("build", as_of_date=as_of, target_path=str(work / "plain-target"))
        publish()
        plain.append(time.monotonic() - started)
        source_freshness(as_of_date=as_of)
        plain_all.append(time.monotonic() - started)
        plain_cpu.append(_cpu_seconds() - cpu)
        print(f"round {round_no}: plain dbt build + publish {plain[-1]:6.1f}s, + source freshness {plain_all[-1]:6.1f}s",
              flush=True)
        for variant, (mode, use_executor) in variants.items():
            started, cpu = time.monotonic(), _cpu_seconds()
            dag_env = _env(data, home, manifest, as_of, mode)
            if use_executor:
                result = _airflow(_executor_env(dag_env), "dags", "test", "transform", "--use-executor")
            else:
                result = _airflow(dag_env, "dags", "test", "transform")
            wall = time.monotonic() - started
            dag_cpu[variant].append(_cpu_seconds() - cpu)
            if result.returncode != 0:
                raise SystemExit(f"airflow dags test transform ({variant}) failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
            dag_wall[variant].append(wall)
            dag_run[variant].append(_last_run_seconds(env))
            print(f"round {round_no}: transform DAG ({variant}) run {dag_run[variant][-1]:6.1f}s, wall incl. CLI {wall:6.1f}s, "
                  f"CPU {dag_cpu[variant][-1]:.1f}s (plain incl. freshness: {plain_cpu[-1]:.1f}s)", flush=True)


def _report(args: argparse.Namespace, at_start: str, variants: dict[str, tuple[str, bool]], plain: list[float],
            plain_all: list[float], plain_cpu: list[float], dag_run: dict[str, list[float]],
            dag_wall: dict[str, list[float]], dag_cpu: dict[str, list[float]]) -> None:
    best_plain, best_plain_all, best_plain_cpu = min(plain), min(plain_all), min(plain_cpu)
    print(f"\n=== transform overhead ({args.scale} world, best of {args.rounds}; {at_start})")
    print(f"  plain dbt build + publish          {best_plain:7.1f}s   (+ source freshness {best_plain_all:.1f}s)")
    keep = (lambda _bench, _row: None) if args.no_record else record
    keep("transform", Row(provider="all", scale=args.scale, run="transform: plain dbt", wall_s=round(best_plain, 1),
                            note=f"dbt build + publish, best of {args.rounds}; + source freshness {best_plain_all:.1f}s, "
                            f"CPU {best_plain_cpu:.1f}s; {at_start}"))
    for variant, (mode, use_executor) in variants.items():
        best_run, best_wall, best_cpu = min(dag_run[variant]), min(dag_wall[variant]), min(dag_cpu[variant])
        print(f"  transform DAG, Cosmos {variant:<8} run  {best_run:7.1f}s   ratio {best_run / best_plain:5.2f}x"
              f"  ({best_run / best_plain_all:.2f}x plain incl. source freshness)")
        print(f"  transform DAG, Cosmos {variant:<8} wall {best_wall:7.1f}s   ratio {best_wall / best_plain:5.2f}x  (incl. CLI start + parse)")
        print(f"  transform DAG, Cosmos {variant:<8} CPU  {best_cpu:7.1f}s   ratio {best_cpu / best_plain_cpu:5.2f}x  "
              "(CLI included; against plain incl. freshness)")
        run = "transform: cosmos" if mode == "build" else f"transform: cosmos {mode}"
        how = "`dags test`"
        if use_executor:
            run += ", LocalExecutor"
            how = "`dags test --use-executor` (LocalExecutor + api-server, tasks side by side)"
        keep("transform", Row(provider="all", scale=args.scale, run=run, wall_s=round(best_run, 1),
                                bound_s=round(best_plain, 1),
                                note=f"OPSDATA_COSMOS_MODE={mode}, {how}: DagRun {best_run / best_plain:.2f} x plain dbt build + publish "
                                f"({best_run / best_plain_all:.2f} x with source freshness, as the DAG runs it); CPU {best_cpu:.1f}s = "
                                f"{best_cpu / best_plain_cpu:.2f} x plain's (CLI included); CLI wall {best_wall:.1f}s; "
                                f"best of {args.rounds}; {at_start}"))


if __name__ == "__main__":
    main()
