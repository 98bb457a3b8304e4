"""The demo's first run on a fresh clone: its Airflow set-up, then every extraction DAG started at the same moment, as
`make demo` does. They used to race to register the DAG bundle in the fresh metadata DB and fail with
`sqlite3.IntegrityError: UNIQUE constraint failed: dag.dag_id` (most often on a busy machine, where the CLIs start
slowly and together)."""

from __future__ import annotations

import importlib.util
import subprocess
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


@pytest.mark.slow
@pytest.mark.timeout(2400)  # a dozen Airflow CLI start-ups: many minutes on a busy machine
def test_extraction_dags_started_together_on_a_fresh_metadata_db_all_run(tmp_path: Path) -> None:
    demo_script = _demo_module()
    home, logs = tmp_path / "airflow_home", tmp_path / "logs"
    logs.mkdir()
    env = demo_script.demo_env(tmp_path / "data", home, "http://127.0.0.1:9")  # tasks are marked done, never run
    env["OPSDATA_DBT_MANIFEST"] = str(tmp_path / "manifest" / "manifest.json")
    env["OPSDATA_PROGRESS_DIR"] = str(logs / "progress")
    demo = demo_script.Demo(env=env, logs=logs)
    demo_script.prepare_airflow(demo)  # a fresh metadata DB
    demo_script.register_dags(demo)

    from pipelines.registry import extraction_providers

    airflow = str(demo_script.BIN / "airflow")
    runs = {
        p.dag_id: subprocess.Popen(
            [airflow, "dags", "test", p.dag_id, "--mark-success-pattern", ".*"], env=env, cwd=REPO_ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for p in extraction_providers()
    }  # all at once, no stagger
    outputs = {dag_id: proc.communicate(timeout=600)[0] for dag_id, proc in runs.items()}
    for dag_id, proc in runs.items():
        assert proc.returncode == 0, (dag_id, outputs[dag_id][-3000:])
        assert "IntegrityError" not in outputs[dag_id], outputs[dag_id][-3000:]


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
