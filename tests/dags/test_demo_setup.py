"""The demo's first run on a fresh clone: its Airflow set-up, then every extraction DAG started at the same moment, as
`make demo` does. They used to race to register the DAG bundle in the fresh metadata DB and fail with
`sqlite3.IntegrityError: UNIQUE constraint failed: dag.dag_id` (most often on a busy machine, where the CLIs start
slowly and together)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import REPO_ROOT


def _demo_module() -> Any:
    spec = importlib.util.spec_from_file_location("opsdata_demo", REPO_ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _demo_in(tmp_path: Path, demo_script: Any, **env_changes: str | None) -> Any:
    home, logs = tmp_path / "airflow_home", tmp_path / "logs"
    logs.mkdir()
    env = demo_script.demo_env(tmp_path / "data", home, "http://127.0.0.1:9")  # a dead sandbox: nothing is fetched
    env["OPSDATA_DBT_MANIFEST"] = str(tmp_path / "manifest" / "manifest.json")
    env["OPSDATA_PROGRESS_DIR"] = str(logs / "progress")
    env["OPSDATA_DEADLINE_ALERTS"] = "false"
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return demo_script.Demo(env=env, logs=logs)


@pytest.mark.slow
@pytest.mark.timeout(2400)  # Airflow's set-up and five runs on a fresh DB: minutes on a busy machine
def test_extraction_dags_started_together_on_a_fresh_metadata_db_all_run(tmp_path: Path) -> None:
    """What `make demo` does on a fresh clone: the runner sets up a new metadata DB, then forks every extraction run
    at the same moment (tasks marked done, not run: the race was in registering the DAGs, not in the tasks)."""
    demo_script = _demo_module()
    demo = _demo_in(tmp_path, demo_script)
    from pipelines.registry import extraction_providers

    dag_ids = [p.dag_id for p in extraction_providers()]
    with demo_script.DagRunner(demo, stages=[dag_ids], mark_success_pattern=".*") as runner:
        runner.send_env({})
        runner.follow()
    runs = {r["dag_id"]: r for r in runner.records if r.get("dag_id")}
    assert sorted(runs) == sorted(dag_ids)
    for dag_id, run in runs.items():
        assert run["ok"] and run["run_state"] == "success", (dag_id, run)
        assert [t["state"] for t in run["tasks"] if t["task_id"] == "extract"] == ["success"], run["tasks"]
        output = Path(run["log"]).read_text()
        assert "IntegrityError" not in output and "database is locked" not in output, output[-3000:]
    # Set-up happened once, in order, before the runs (the runs found every DAG registered).
    setup = [r["step"] for r in runner.records if not r.get("dag_id")]
    assert setup.index("airflow db migrate") < setup.index("register DAGs (parse + sync bundle)")


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_a_failing_dag_run_stops_the_demo_with_its_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run that fails (here: Stripe without its credentials, a terminal error that fails at the first try) ends
    the demo with a non-zero exit naming the step, after the tail of that run's own log."""
    from pipelines.registry import get_provider

    demo_script = _demo_module()
    missing = dict.fromkeys(get_provider("stripe").credential_env().values())
    demo = _demo_in(tmp_path, demo_script, **missing)
    with demo_script.DagRunner(demo, stages=[["extract_stripe"], ["notify"]]) as runner:
        runner.send_env({})
        with pytest.raises(SystemExit, match="dag extract_stripe failed"):
            runner.follow()
    runs = [r for r in runner.records if r.get("dag_id")]
    assert [(r["dag_id"], r["ok"], r["run_state"]) for r in runs] == [("extract_stripe", False, "failed")]  # no notify
    assert "last lines of" in capsys.readouterr().out


def test_progress_lines_say_which_provider_and_how_far(sandbox_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the demo prints while the extractions run comes from the run itself (dlt's counters and the request
    count), written to a file the demo reads: one status per provider, not one timer for all."""
    from pipelines.run import run_provider
    from tests.helpers import raw_count

    demo_script = _demo_module()
    monkeypatch.setenv("OPSDATA_PROGRESS_DIR", str(tmp_path / "progress"))
    demo = demo_script.Demo(env={"OPSDATA_PROGRESS_DIR": str(tmp_path / "progress")}, logs=tmp_path)
    assert demo.extraction_status("shopify") == "shopify: starting"
    summary = run_provider("shopify")
    status = demo.extraction_status("shopify", done=True)
    rows = raw_count("shopify", "customers") + raw_count("shopify", "orders")
    assert status == f"shopify: {summary.requests:,} pages, {rows:,} rows", status
    assert summary.requests > 1 and rows > 100


def test_the_demo_merchant_is_a_zendesk_high_volume_account_on_both_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox the demo starts and the client env it sets agree on the limits (a mismatch would either idle the
    client or make it hit 429s); a real user's default stays the plain incremental limit."""
    import requests

    from pipelines.zendesk import settings as zendesk_settings
    from sandbox.server import SandboxServer
    from sandbox.zendesk import SANDBOX_CREDENTIALS as ZENDESK

    demo_script = _demo_module()
    monkeypatch.delenv("ZENDESK_HIGH_VOLUME", raising=False)
    monkeypatch.delenv("ZENDESK_RATE_LIMIT_SCALE", raising=False)
    assert zendesk_settings.incremental_limit_per_minute() == zendesk_settings.INCREMENTAL_PER_MINUTE == 10
    env = demo_script.demo_env(Path("/nonexistent/data"), Path("/nonexistent/home"), "http://127.0.0.1:9")
    for name, value in demo_script.demo_account_env().items():
        assert env[name] == value
        monkeypatch.setenv(name, value)
    with SandboxServer(options=demo_script.demo_sandbox_options()) as server:
        auth = (f"{ZENDESK['email']}/token", ZENDESK["api_token"])
        found = requests.get(f"{server.url}/zendesk/api/v2/incremental/tickets/cursor.json", auth=auth,
                             params={"start_time": 1_600_000_000}, timeout=30)
    found.raise_for_status()
    served = dict(kv.split("=") for kv in found.headers["zendesk-ratelimit-incremental-exports"].replace(" ", "").split(";"))
    assert int(served["total"]) == zendesk_settings.incremental_limit_per_minute() == 30
    assert int(found.headers["X-Rate-Limit"]) == zendesk_settings.account_limit_per_minute() == 2500
