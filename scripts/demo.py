"""The demo: the real Airflow DAGs on the sandbox, from an empty checkout to Slack digest, in a few minutes.

    python scripts/demo.py            # every extraction DAG -> transform (dbt via Cosmos) -> notify, then a summary
    python scripts/demo.py --ui       # the same setup, then `airflow standalone`: open the printed URL

What it does, in order: starts the sandbox (all provider simulators + Slack, `medium` world, realistic 50-150 ms
latency) as a subprocess; points Airflow at `<repo>/airflow_home` (git-ignored, SQLite metadata DB, no examples);
`airflow db migrate`; creates the pools; builds the dbt manifest Cosmos renders from; then runs the real DAGs with
`airflow dags test` (each one in its own process, tasks in that process, exactly the code the scheduler runs): the
extraction DAGs side by side as a scheduler would run them (`--serial`: one after the other), then `transform`, the
reverse syncs (`sync_<provider>`, e.g. Shopify customers to Klaviyo profiles), then
`notify`. It ends by printing where the warehouse is, rows per raw table, time per step, the tiles, and the #ops digest read back from
the Slack sandbox.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "dags")]

from sandbox.env import client_env  # noqa: E402 (needs the repo on sys.path)
from sandbox.process import free_port, sandbox_process  # noqa: E402

PROGRESS_DIR_ENV = "OPSDATA_PROGRESS_DIR"  # pipelines.common.progress (not imported here: it imports dlt)


@dataclass
class Step:
    name: str
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class Demo:
    env: dict[str, str]
    logs: Path
    steps: list[Step] = field(default_factory=list)

    def run(self, name: str, cmd: list[str], *, cwd: Path = REPO_ROOT, status: Callable[[], str] | None = None) -> Step:
        """Run one step as a subprocess, its output in a log file, with a progress line while it runs."""
        log_path = self.logs / f"{len(self.steps) + 1:02d}-{name.replace(' ', '_')}.log"
        started = time.monotonic()
        with log_path.open("w") as log, _Progress(name, status):
            proc = subprocess.run(cmd, env=self.env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        step = Step(name, time.monotonic() - started, proc.returncode == 0, str(log_path))
        self.steps.append(step)
        _print_step(step)
        if not step.ok:
            tail = log_path.read_text(errors="replace").splitlines()[-40:]
            print("\n".join("      " + line for line in tail))
            raise SystemExit(f"demo: step '{name}' failed (exit {proc.returncode}); full log: {log_path}")
        return step

    def run_parallel(self, jobs: dict[str, tuple[str, list[str]]]) -> Step:
        """Run the extraction DAGs at once (they write separate files and wait on the network, not the CPU).
        `jobs`: step name -> (provider, command)."""
        started = time.monotonic()
        running: dict[str, tuple[subprocess.Popen[bytes], Path, float]] = {}
        finished: set[str] = set()
        for name, (_provider, cmd) in jobs.items():
            log_path = self.logs / f"{len(self.steps) + len(running) + 1:02d}-{name.replace(' ', '_')}.log"
            proc = subprocess.Popen(cmd, env=self.env, cwd=REPO_ROOT, stdout=log_path.open("w"), stderr=subprocess.STDOUT)
            running[name] = (proc, log_path, time.monotonic())

        def status() -> str:
            return " · ".join(self.extraction_status(provider, done=name in finished) for name, (provider, _) in jobs.items())

        failed: list[tuple[str, Path]] = []
        with _Progress("extracting", status):
            while running:
                for name, (proc, log_path, began) in list(running.items()):
                    if proc.poll() is None:
                        continue
                    del running[name]
                    finished.add(name)
                    step = Step(name, time.monotonic() - began, proc.returncode == 0, str(log_path))
                    self.steps.append(step)
                    _print_step(step, self.extraction_status(jobs[name][0], done=True))
                    if not step.ok:
                        failed.append((name, log_path))
                time.sleep(0.2)  # the demo's own polling of its child processes
        wall = Step(f"extraction wall time ({len(jobs)} DAGs)", time.monotonic() - started, not failed)
        self.steps.append(wall)
        if failed:
            for name, log_path in failed:
                print(f"\n  {name} failed; last lines of {log_path}:")
                print("\n".join("      " + line for line in log_path.read_text(errors="replace").splitlines()[-30:]))
            raise SystemExit(f"demo: {', '.join(n for n, _ in failed)} failed")
        return wall

    def extraction_status(self, provider: str, done: bool = False) -> str:
        """`stripe: 12 pages, 1,234 rows` from the progress file the extraction keeps (pipelines.common.progress)."""
        try:
            found = json.loads((self.progress_dir / f"{provider}.json").read_text())
        except (OSError, ValueError):
            return f"{provider}: done" if done else f"{provider}: starting"
        rows = sum(found.get("rows", {}).values())
        counts = f"{found.get('requests', 0):,} pages, {rows:,} rows"
        if done:
            return f"{provider}: {counts}"
        step = found.get("step") or "starting"
        return f"{provider}: {counts}" + ("" if step == "extract" else f" ({step})")

    @property
    def progress_dir(self) -> Path:
        return Path(self.env[PROGRESS_DIR_ENV])


class _Progress:
    """A one-line spinner with elapsed seconds and what the step reports (`status`); not on a terminal, a line every
    15 s, and only when the status changed."""

    def __init__(self, name: str, status: Callable[[], str] | None = None) -> None:
        self.name = name
        self.status = status or (lambda: "")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        started, tty, frames, n, last = time.monotonic(), sys.stdout.isatty(), "|/-\\", 0, ""
        width = shutil.get_terminal_size().columns - 1
        while not self._stop.wait(0.2 if tty else 15):
            elapsed = time.monotonic() - started
            status = self.status()
            if tty:
                line = f"\r  {frames[n % 4]} {self.name} {elapsed:5.0f}s  {status}"
                print(line[:width].ljust(width), end="", flush=True)
            elif status != last or not status:
                print(f"    ... {self.name} {elapsed:.0f}s: {status or 'running'}", flush=True)
                last = status
            n += 1

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if sys.stdout.isatty():
            print("\r" + " " * (shutil.get_terminal_size().columns - 1) + "\r", end="")


def _print_step(step: Step, detail: str = "") -> None:
    print(f"  {'ok ' if step.ok else 'FAIL'} {step.name:<36} {step.seconds:6.1f}s" + (f"  {detail}" if detail else ""), flush=True)


def _get_json(url: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback sandbox)
        return json.loads(response.read())


def demo_env(data_dir: Path, airflow_home: Path, sandbox_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__PARALLELISM": "4",  # a 2-core laptop
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "dags"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "OPSDATA_REPO_ROOT": str(REPO_ROOT),
        "OPSDATA_DATA_DIR": str(data_dir),
        # Each demo starts a fresh Slack sandbox (a new workspace), so it gets a fresh delivery ledger too;
        # otherwise the ledger of the last demo would (rightly) refuse to post the same digest again.
        "OPSDATA_NOTIFY_DB": str(airflow_home / "demo" / "notifications.sqlite"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # Quiet logs: Cosmos reads this key (and Airflow warns when it is absent); the CLI's graph rendering is unused.
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "opsdata",
        "PYTHONWARNINGS": "ignore:Could not import graphviz:UserWarning",
    })
    env.update(client_env(sandbox_url))  # every integration's base URL and credentials, as a user would set them
    return env


def raw_row_counts() -> dict[str, dict[str, int]]:
    import duckdb

    from pipelines.common.storage import raw_db_path
    from pipelines.registry import extraction_providers

    counts: dict[str, dict[str, int]] = {}
    for provider in extraction_providers():
        path = raw_db_path(provider.name)
        if not path.exists():
            continue
        con = duckdb.connect(str(path), read_only=True)
        try:
            tables = con.execute(
                "select table_name from information_schema.tables where table_schema = ? and table_name not like '_dlt%' "
                "and table_type = 'BASE TABLE' order by 1",
                [provider.dataset],
            ).fetchall()
            counts[provider.name] = {
                t: con.execute(f'select count(*) from {provider.dataset}."{t}"').fetchone()[0] for (t,) in tables
            }
        finally:
            con.close()
    return counts


def tile_summary() -> list[tuple[str, int]]:
    import duckdb

    from pipelines.common.storage import tiles_path

    path = tiles_path()
    if not path.exists():
        return []
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema = 'tiles' order by 2"
        ).fetchall()
        return [(f"{s}.{t}", con.execute(f'select count(*) from {s}."{t}"').fetchone()[0]) for s, t in tables]
    finally:
        con.close()


def slack_messages(sandbox_url: str, channel: str) -> list[dict]:
    try:
        return list(_get_json(f"{sandbox_url}/slack/_sandbox/messages?channel={channel}").get("messages", []))
    except OSError:
        return []


def print_summary(demo: Demo, sandbox_url: str, total: float) -> None:
    from pipelines.common.storage import data_dir, tiles_path, warehouse_path

    print("\n=== Where things are")
    print(f"  data folder        {data_dir()}")
    print(f"  warehouse (dbt)    {warehouse_path()}")
    print(f"  BI snapshot        {tiles_path()}   (read-only copy of marts + tiles, swapped after each green build)")
    print(f"  Airflow home       {demo.env['AIRFLOW_HOME']}   (logs: {demo.logs})")
    print(f"  Slack messages     {demo.logs / 'slack'}/<channel>.json   (what the Slack sandbox received)")

    print("\n=== Rows per raw table")
    for provider, tables in raw_row_counts().items():
        print(f"  raw_{provider}  ({sum(tables.values()):,} rows)")
        for table, n in tables.items():
            print(f"    {table:<44} {n:>9,}")

    print("\n=== Tiles (bi.duckdb)")
    for table, n in tile_summary():
        print(f"  {table:<46} {n:>7,} rows")

    print("\n=== Time per step")
    for step in demo.steps:
        print(f"  {step.name:<38} {step.seconds:6.1f}s")
    print(f"  {'total':<38} {total:6.1f}s")

    print("\n=== Slack sandbox")
    (demo.logs / "slack").mkdir(exist_ok=True)
    for channel in ("ops", "alerts", "support"):
        found = slack_messages(sandbox_url, channel)
        (demo.logs / "slack" / f"{channel}.json").write_text(json.dumps(found, indent=2, ensure_ascii=False))
        print(f"  #{channel}: {len(found)} message(s)")
    ops = slack_messages(sandbox_url, "ops")
    if ops:
        print("\n--- #ops (daily digest, approval reminders), as read back from the Slack sandbox ---")
        for message in ops:
            print(message.get("text", ""))
            print("---")
    print("\n=== Dashboard")
    print(f"  {os.environ.get('OPSDATA_DASHBOARD_URL') or 'http://localhost:8501'}   (start it with `make dashboard`; it reads {tiles_path()})")


def run_ui(demo: Demo, sandbox_url: str) -> None:
    env = dict(demo.env)
    env["OPSDATA_DEADLINE_ALERTS"] = "true"  # a scheduler runs them here
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
    airflow_home = Path(env["AIRFLOW_HOME"])
    print("\n=== Airflow UI")
    print("  starting `airflow standalone` (scheduler, dag-processor, api-server, triggerer) ...")
    print("  UI:        http://localhost:8080")
    print(f"  login:     admin / see {airflow_home / 'simple_auth_manager_passwords.json.generated'}")
    print(f"  sandbox:   {sandbox_url}  (Slack messages: {sandbox_url}/slack/_sandbox/messages?channel=ops)")
    print("  Every DAG is unpaused: the scheduler runs each extract_* for its latest interval, transform follows on the")
    print("  raw Assets, sync_klaviyo and notify on the tiles. Trigger any DAG by hand too. Ctrl-C stops everything.\n")
    # DAGs an earlier `make demo` registered were created paused (`airflow dags test` does that), and a paused
    # transform would never follow its Assets. On a fresh database nothing matches and PAUSED_AT_CREATION applies.
    subprocess.run([str(BIN / "airflow"), "dags", "unpause", "--treat-dag-id-as-regex", "-y", ".*"], env=env, cwd=REPO_ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, cwd=REPO_ROOT)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # `kill <demo pid>` stops Airflow and the sandbox too
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)  # standalone stops its scheduler, api-server, triggerer and dag-processor
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ui", action="store_true", help="after setup, run `airflow standalone` and print the UI URL")
    parser.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--latency", default="realistic", choices=["zero", "fast", "realistic"])
    parser.add_argument("--port", type=int, default=0, help="sandbox port (default: a free one)")
    parser.add_argument("--serial", action="store_true", help="run the extraction DAGs one after the other")
    args = parser.parse_args()

    started = time.monotonic()
    airflow_home = Path(os.environ.get("AIRFLOW_HOME_DEMO", REPO_ROOT / "airflow_home"))
    data_dir = Path(os.environ.get("OPSDATA_DATA_DIR", REPO_ROOT / "data")).resolve()
    logs = airflow_home / "demo" / time.strftime("%Y%m%d-%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    (airflow_home / "demo" / "notifications.sqlite").unlink(missing_ok=True)
    port = args.port or free_port()
    sandbox_url = f"http://127.0.0.1:{port}"
    env = demo_env(data_dir, airflow_home, sandbox_url)
    env[PROGRESS_DIR_ENV] = str(logs / "progress")
    os.environ.update({k: env[k] for k in ("OPSDATA_DATA_DIR", "OPSDATA_REPO_ROOT")})
    demo = Demo(env=env, logs=logs)

    print(f"opsdata demo: AIRFLOW_HOME={airflow_home}  data={data_dir}")
    try:
        with ExitStack() as sandbox:
            sandbox_started = time.monotonic()
            with _Progress(f"sandbox ({args.scale}, {args.latency} latency)"):
                log_path = logs / "00-sandbox.log"
                sandbox.enter_context(sandbox_process(args.scale, args.latency, port=port, env=env, log_path=log_path))
            demo.steps.append(Step("sandbox start", time.monotonic() - sandbox_started, True))
            _print_step(demo.steps[-1])
            # The sandbox world has a fixed "today"; pin the metrics to it.
            env["OPSDATA_AS_OF_DATE"] = _get_json(f"{sandbox_url}/_sandbox/health")["now"][:10]
            run_dags(demo, args, env, sandbox_url, started)
    finally:
        if shutil.which("stty") and sys.stdin.isatty():
            subprocess.run(["stty", "sane"], check=False)


def prepare_airflow(demo: Demo) -> None:
    """The metadata DB, the pools and the dbt manifest: what every DAG run needs first."""
    demo.run("airflow db migrate", [str(BIN / "airflow"), "db", "migrate"])
    demo.run("pools", [sys.executable, "-m", "airflow_settings.pools"])
    demo.run("dbt manifest (dbt parse)", [sys.executable, "-m", "dagkit.manifest"], cwd=REPO_ROOT / "dags")


def register_dags(demo: Demo) -> None:
    """Write the DAG bundle to the metadata DB once, before any `airflow dags test`.

    Every `airflow dags test` first writes the whole bundle to the metadata DB. Several of them starting at once on a
    fresh DB all insert the same new rows, and all but one fail (`UNIQUE constraint failed: dag.dag_id`). Registered
    here first, in the same environment as the runs (so the same serialized DAGs, no new versions), as a
    dag-processor would before any run, the parallel runs find every row in place and only update it."""
    # `airflow dags test` cannot run deadline alerts (Airflow 3.3.2 bug, see dagkit.defaults); no scheduler here.
    demo.env["OPSDATA_DEADLINE_ALERTS"] = "false"
    demo.run("register DAGs (dags reserialize)", [str(BIN / "airflow"), "dags", "reserialize"])


def run_dags(demo: Demo, args: argparse.Namespace, env: dict[str, str], sandbox_url: str, started: float) -> None:
    """Airflow set-up, then the DAGs in the order the scheduler would run them (or the UI, with `--ui`)."""
    prepare_airflow(demo)
    if args.ui:
        run_ui(demo, sandbox_url)
        return
    register_dags(demo)
    from pipelines.registry import extraction_providers, syncing_providers

    extractions = {f"dag {p.dag_id}": (p.name, [str(BIN / "airflow"), "dags", "test", p.dag_id]) for p in extraction_providers()}
    if args.serial:
        for name, (extracted, cmd) in extractions.items():
            demo.run(name, cmd, status=lambda extracted=extracted: demo.extraction_status(extracted))  # type: ignore[misc]
    else:
        demo.run_parallel(extractions)
    demo.run("dag transform (dbt via Cosmos)", [str(BIN / "airflow"), "dags", "test", "transform"])
    # The scheduler would start these on the tiles Asset: reverse syncs, then the Slack work.
    for provider in syncing_providers():
        demo.run(f"dag sync_{provider.name}", [str(BIN / "airflow"), "dags", "test", f"sync_{provider.name}"])
    demo.run("dag notify (Slack)", [str(BIN / "airflow"), "dags", "test", "notify"])
    print_summary(demo, sandbox_url, time.monotonic() - started)


if __name__ == "__main__":
    main()
