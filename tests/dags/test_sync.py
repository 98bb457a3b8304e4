"""Reverse-sync DAGs (`sync_<provider>`): generated from the registry, run after each tiles publish, idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import load_dag
from tests.pipelines.klaviyo.test_klaviyo_sync import server_stats, write_dim_customers


def test_sync_dags_come_from_the_registry(airflow_db: Path) -> None:
    from dagkit.assets import TILES

    from pipelines.registry import syncing_providers

    providers = syncing_providers()
    assert [p.name for p in providers] == ["klaviyo"]
    dag = load_dag("sync_klaviyo")
    (task,) = dag.tasks
    assert task.pool == "extract_klaviyo"  # shares the extraction's rate limit and raw-file writer slot
    assert {a.uri for a in dag.timetable.asset_condition.objects} == {TILES.uri}


def test_sync_dag_sends_each_profile_once_across_runs(
    sandbox_env: Any, pools: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = sandbox_env.world
    monkeypatch.setenv("KLAVIYO_RATE_LIMIT_SCALE", "20")
    sandbox_env.state.provider_store("klaviyo")["rate_scale"] = 20.0
    monkeypatch.setenv("OPSDATA_AS_OF_DATE", world.now.date().isoformat())
    customers = write_dim_customers(world)

    first = load_dag("sync_klaviyo").test()
    assert first.state == "success"
    assert server_stats(sandbox_env)["import_rows"] == customers
    assert f"{customers} sent" in first.get_task_instances()[0].xcom_pull()["summary"]

    second = load_dag("sync_klaviyo").test()  # the next tiles publish, nothing changed
    assert second.state == "success"
    assert server_stats(sandbox_env)["import_rows"] == customers  # nothing re-sent
    assert "0 sent" in second.get_task_instances()[0].xcom_pull()["summary"]
