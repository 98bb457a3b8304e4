"""The demo: the real Airflow DAGs on the sandbox, from an empty checkout to Slack digest, in a few minutes.

    python scripts/demo.py            # every extraction DAG -> transform (dbt via Cosmos) -> notify, then a summary
    python scripts/demo.py --ui       # the same setup, then `airflow standalone`: open the printed URL

What it does, in order: points Airflow at `<repo>/airflow_home` (git-ignored, SQLite metadata DB, no examples) and
starts `scripts/dag_runner.py`, one Airflow process that sets Airflow up (`airflow db migrate`, the pools, the dbt
manifest, the DAGs registered in the metadata DB) while the sandbox starts (all provider simulators + Slack, `medium`
world, realistic 50-150 ms latency, the demo merchant's plans of `DEMO_ACCOUNT`, as a subprocess). That process then runs the real DAGs with `DAG.test()`, what
`airflow dags test` runs (the scheduling loop and task runner the scheduler uses, tasks in the run's process), each
run a fork of it so none pays Airflow's start-up again: the extraction DAGs side by side as a scheduler would run them
(`--serial`: one after the other), then `transform`, the reverse syncs (`sync_<provider>`, e.g. Shopify customers to
Klaviyo profiles), then `notify`. It ends by printing where the warehouse is, rows per raw table, time per step (also
in `<logs>/steps.json`, which `python -m bench.bench_demo` reads), the tiles, and the #ops digest read back from the
Slack sandbox.
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


@dataclass(frozen=True)
class AccountSetting:
    """One fact about the demo merchant's provider accounts, told to both sides: the simulator (`--option`) and the
    client (its documented environment variable; None where the client reads it from the API's answers)."""

    sandbox_option: str
    value: str
    client_env: str | None
    why: str


DEMO_ACCOUNT = (
    AccountSetting("zendesk_high_volume", "true", "ZENDESK_HIGH_VOLUME",
                   "Zendesk Suite with the High Volume API add-on: 2500 requests/min, incremental exports 30/min (the plain "
                   "plan's 10/min would make the 34 export pages of the medium world 3.5 minutes of the demo)"),
    AccountSetting("shopify_plan", "plus", None,
                   "Shopify Plus: a 1000 points/s restore rate; the client paces on each response's throttleStatus"),
)
"""How the synthetic merchant (Northwind Roasters) is subscribed in the demo. Only the demo sets these: a real user's
client keeps its documented defaults (Zendesk: the plain plan limits unless ZENDESK_HIGH_VOLUME says otherwise)."""


def demo_sandbox_options() -> dict[str, str]:
    return {s.sandbox_option: s.value for s in DEMO_ACCOUNT}


def demo_account_env() -> dict[str, str]:
    return {s.client_env: s.value for s in DEMO_ACCOUNT if s.client_env}


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
            label = f"{self.name} {elapsed:.0f}s: " if self.name else ""
            if tty:
                line = f"\r  {frames[n % 4]} {label}{status}"
                print(line[:width].ljust(width), end="", flush=True)
            elif status != last or not status:
                print(f"    ... {label}{status or 'running'}", flush=True)
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
    env.update(demo_account_env())  # the demo merchant's plans, as the sandbox is started with them (DEMO_ACCOUNT)
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
    # `airflow dags test` cannot run deadline alerts (Airflow 3.3.2 bug, see dagkit.defaults); no scheduler here.
    env["OPSDATA_DEADLINE_ALERTS"] = "false"
    os.environ.update({k: env[k] for k in ("OPSDATA_DATA_DIR", "OPSDATA_REPO_ROOT")})
    demo = Demo(env=env, logs=logs)

    print(f"opsdata demo: AIRFLOW_HOME={airflow_home}  data={data_dir}")
    try:
        with ExitStack() as stack:
            # The Airflow set-up (imports, metadata DB, pools, dbt manifest) runs while the sandbox starts.
            runner = stack.enter_context(DagRunner(demo, stages=[] if args.ui else dag_stages(serial=args.serial)))
            sandbox_started = time.monotonic()
            with _Progress(f"sandbox ({args.scale}, {args.latency} latency)"):
                log_path = logs / "00-sandbox.log"
                stack.enter_context(sandbox_process(args.scale, args.latency, options=demo_sandbox_options(), port=port,
                                                    env=env, log_path=log_path))
            demo.steps.append(Step("sandbox start", time.monotonic() - sandbox_started, True))
            _print_step(demo.steps[-1])
            # The sandbox world has a fixed "today"; pin the metrics to it (the transform DAG reads it at parse).
            as_of = _get_json(f"{sandbox_url}/_sandbox/health")["now"][:10]
            env["OPSDATA_AS_OF_DATE"] = as_of
            runner.send_env({"OPSDATA_AS_OF_DATE": as_of})
            runner.follow()
            if args.ui:
                run_ui(demo, sandbox_url)
                return
            total = time.monotonic() - started
            write_step_table(demo, runner, total)
            print_summary(demo, sandbox_url, total)
    finally:
        if shutil.which("stty") and sys.stdin.isatty():
            subprocess.run(["stty", "sane"], check=False)


def _load_at_start() -> str:
    import platform

    return f"{platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start"


_machine_at_start = _load_at_start()  # the same words as bench.report.machine(), taken when the demo starts


def write_step_table(demo: Demo, runner: DagRunner, total: float) -> Path:
    """`<logs>/steps.json`: the step table and every runner event (each DAG run with its task intervals), which
    `bench.bench_demo` splits into time inside tasks and Airflow overhead."""
    path = demo.logs / "steps.json"
    path.write_text(json.dumps({
        "total_s": total,
        "machine": _machine_at_start,
        "steps": [{"name": s.name, "seconds": s.seconds, "ok": s.ok} for s in demo.steps],
        "events": runner.records,
    }, indent=1))
    return path


def dag_stages(*, serial: bool = False) -> list[list[str]]:
    """The DAGs in the order the scheduler would run them: the extractions side by side (`serial`: one after the
    other), `transform` on their Assets, then the reverse syncs and `notify` side by side, both scheduled on the tiles
    Asset (`serial`: one after the other)."""
    from pipelines.registry import extraction_providers, syncing_providers

    extractions = [p.dag_id for p in extraction_providers()]
    stages = [[d] for d in extractions] if serial else [extractions]
    after_tiles = [*(f"sync_{p.name}" for p in syncing_providers()), "notify"]
    return [*stages, ["transform"], *([[d] for d in after_tiles] if serial else [after_tiles])]


STEP_LABELS = {
    "dag transform": "dag transform (dbt via Cosmos)",
    "dag notify": "dag notify (Slack)",
    "wait for the caller's environment (stdin)": "airflow waits for the sandbox",
}


class DagRunner:
    """`scripts/dag_runner.py` as a child process: it sets Airflow up once and runs every DAG run of `stages` from
    that one warm process (see its docstring). This side prints its steps as they end, with a progress line while
    they run (for the extractions: provider, pages and rows so far), and stops the demo at the first failure."""

    def __init__(self, demo: Demo, stages: list[list[str]], mark_success_pattern: str | None = None) -> None:
        self.demo = demo
        plan = {"stages": stages, "mark_success_pattern": mark_success_pattern}
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "scripts" / "dag_runner.py"), json.dumps(plan), "--logs", str(demo.logs),
             "--events-fd", str(write_fd), "--env-from-stdin"],
            env=demo.env, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        self.events = os.fdopen(read_fd)
        self.running: dict[str, float] = {}
        self.providers = {p.dag_id: p.name for p in _extraction_providers()}
        self.records: list[dict] = []
        """Every `end` event as the runner sent it (with each run's task intervals): `bench.bench_demo` reads them."""

    def __enter__(self) -> DagRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def send_env(self, env: dict[str, str]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(env) + "\n").encode())
        self.proc.stdin.close()

    def status(self) -> str:
        """What runs now and for how long; for the extractions, each provider's pages and rows so far."""
        now = time.monotonic()
        extracting = [self.providers[s[4:]] for s in self.running if s[4:] in self.providers]
        if extracting:
            since = min(self.running.values())
            return f"extracting {now - since:.0f}s: " + " · ".join(self.demo.extraction_status(p) for p in extracting)
        return ", ".join(f"{STEP_LABELS.get(s, s)} {now - t:.0f}s" for s, t in self.running.items()) or "starting"

    def follow(self) -> None:
        """Read the runner's events to its end; raise SystemExit on a failed step."""
        stage_started: float | None = None
        stage_size = 0
        failed: list[tuple[Step, dict]] = []  # the runner stops after the stage with a failure: report them all
        with _Progress("", self.status):
            for line in self.events:
                event = json.loads(line)
                step = event["step"]
                if event["state"] == "start":
                    self.running[step] = time.monotonic()
                    if step[4:] in self.providers and stage_started is None:
                        stage_started, stage_size = time.monotonic(), 0
                    stage_size += step[4:] in self.providers
                    continue
                self.running.pop(step, None)
                self.records.append(event)
                name = STEP_LABELS.get(step, step)
                result = Step(name, event["seconds"], event["ok"], event.get("log") or "")
                self.demo.steps.append(result)
                provider = self.providers.get(step[4:])
                _print_step(result, self.demo.extraction_status(provider, done=True) if provider else "")
                if not result.ok:
                    failed.append((result, event))
                if provider and stage_started is not None and not any(s[4:] in self.providers for s in self.running):
                    self.demo.steps.append(Step(f"extraction wall time ({stage_size} DAGs)", time.monotonic() - stage_started, True))
                    stage_started = None
        for step, event in failed:
            self._show_failure(step, event)
        if failed:
            raise SystemExit(f"demo: {', '.join(step.name for step, _ in failed)} failed")
        if self.proc.wait() != 0:
            log = self.demo.logs / "runner.log"
            print("\n".join("      " + line for line in log.read_text(errors="replace").splitlines()[-40:]))
            raise SystemExit(f"demo: the DAG runner failed (exit {self.proc.returncode}); full log: {log}")

    def _show_failure(self, step: Step, event: dict) -> None:
        log_path = Path(step.detail) if step.detail else self.demo.logs / "runner.log"
        print(f"\n  {step.name} failed{': ' + event['error'] if event.get('error') else ''}; last lines of {log_path}:")
        tail = log_path.read_text(errors="replace").splitlines()[-40:] if log_path.exists() else []
        print("\n".join("      " + line for line in tail))


def _extraction_providers() -> list:
    from pipelines.registry import extraction_providers

    return list(extraction_providers())


if __name__ == "__main__":
    main()
