"""END-TO-END, under Airflow: every extraction DAG → the Asset-scheduled `transform` (dbt through Cosmos) → the
reverse sync and `notify`, against the sandbox (small world, zero latency), then the tiles, the Klaviyo profiles and
the Slack sandbox are checked against the world's ground truth. The slowest test of this folder (1-2 minutes): it runs the real DAGs with `dag.test()`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.dags.conftest import airflow_env, load_dag

# A BI tool polling the published tiles: read-only opens of bi.duckdb, as fast as it can, until told to stop.
BI_READER = r"""
import json, sys, time, duckdb
path, stop = sys.argv[1], sys.argv[2]
import os
ok = errors = 0
last_error = ""
while not os.path.exists(stop):
    try:
        con = duckdb.connect(path, read_only=True)
        con.execute("select count(*) from tiles.shopify_sales_daily").fetchone()
        con.close()
        ok += 1
    except Exception as exc:
        errors += 1
        last_error = str(exc)
    time.sleep(0.02)  # a BI tool's polling pace; it stops on the test's stop file
print(json.dumps({"ok": ok, "errors": errors, "last_error": last_error}))
"""


def _extraction_dag_ids() -> list[str]:
    from pipelines.registry import extraction_providers

    return [p.dag_id for p in extraction_providers()]


@pytest.mark.slow
@pytest.mark.timeout(2400)  # every DAG of the chain under Airflow: 1-2 minutes quiet, many more on a busy machine
def test_full_chain_under_airflow(sandbox_env: Any, airflow_db: Path, pools: list[str], warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.common.storage import published_raw_path, raw_db_path, tiles_path, warehouse_path
    from sandbox.slack import messages, set_min_interval

    world = sandbox_env.world
    monkeypatch.setenv("OPSDATA_AS_OF_DATE", world.now.date().isoformat())
    monkeypatch.setenv("SLACK_MIN_INTERVAL_SECONDS", "0.01")
    set_min_interval(sandbox_env.state, 0.01)

    # 1. Every extraction DAG, as the scheduler would run them.
    results: dict[str, Any] = {}
    for dag_id in _extraction_dag_ids():
        run = load_dag(dag_id).test()
        assert run.state == "success", dag_id
        results[dag_id] = run
    for dag_id in _extraction_dag_ids():
        provider = dag_id.removeprefix("extract_")
        con = duckdb.connect(str(raw_db_path(provider)), read_only=True)
        try:
            tables = con.execute(
                "select count(*) from information_schema.tables where table_schema = ? and table_name not like '_dlt%'",
                [f"raw_{provider}"],
            ).fetchone()[0]
        finally:
            con.close()
        assert tables > 0, provider

    # 2. The transform DAG (one Cosmos `dbt build` of every model and test), then publish.
    transform = load_dag("transform")
    assert type(transform.get_task("dbt_build")).__name__ == "DbtBuildLocalOperator"
    run = transform.test()
    assert run.state == "success"
    failed = [ti.task_id for ti in run.get_task_instances() if ti.state not in ("success", "skipped")]
    assert failed == []

    # The tiles, against the world's ground truth (computed from the world objects, not from the models).
    expected_orders = [o for o in world.visible_orders() if o.cancelled_at is None or o.cancelled_at > world.now]
    con = duckdb.connect(str(tiles_path()), read_only=True)
    try:
        orders_count = con.execute("select sum(orders_count) from tiles.shopify_sales_daily").fetchone()[0]
        tile_tables = {t for (t,) in con.execute("select table_name from information_schema.tables where table_schema = 'tiles'").fetchall()}
    finally:
        con.close()
    assert orders_count == len(expected_orders)
    assert "shopify_sales_daily" in tile_tables

    # 3. The reverse sync on the new tiles: every customer with an email becomes a Klaviyo profile, once.
    con = duckdb.connect(str(tiles_path()), read_only=True)
    try:
        with_email = con.execute("select count(*) from marts.dim_customers where email is not null").fetchone()[0]
    finally:
        con.close()
    monkeypatch.setenv("KLAVIYO_RATE_LIMIT_SCALE", "20")
    sandbox_env.state.provider_store("klaviyo")["rate_scale"] = 20.0
    assert load_dag("sync_klaviyo").test().state == "success"
    assert with_email > 0 and sandbox_env.state.stats["klaviyo"].extra["import_rows"] == with_email

    # 4. The notify DAG: the daily digest lands in #ops of the Slack sandbox.
    run = load_dag("notify").test()
    assert run.state == "success"
    ops = messages(sandbox_env.state, "ops")
    assert ops, "no message in #ops"
    digest_text = "\n".join(str(m.get("text", "")) for m in ops)
    assert "digest" in digest_text.lower() or "daily" in digest_text.lower()
    assert f"{len(expected_orders):,}".replace(",", "") in digest_text.replace(",", "") or "Shopify" in digest_text

    # 5. A failing dbt test stops what depends on it, and BI keeps reading the last good snapshot meanwhile.
    #    A duplicated order in the raw data breaks `unique` on stg_shopify__orders.order_id (in the published copy of
    #    the raw file: the one dbt reads).
    con = duckdb.connect(str(published_raw_path("shopify")))
    try:
        con.execute("insert into raw_shopify.orders select * from raw_shopify.orders limit 1")
    finally:
        con.close()
    published_at = tiles_path().stat().st_mtime_ns
    stop = warehouse / "stop-reader"
    reader = subprocess.Popen([sys.executable, "-c", BI_READER, str(tiles_path()), str(stop)], env=airflow_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failing = load_dag("transform")
    for task in failing.tasks:
        task.retries = 0  # right in production (a lock, a blip), minutes of backoff here
    try:
        run = failing.test()
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    # dbt's tests on the Shopify staging models catch it (the duplicate breaks uniqueness and the customer/order
    # reconciliations) and fail the build; the publish never runs. Freshness does not depend on the build: it ran.
    assert states["dbt_build"] == "failed"
    assert states["source_freshness"] == "success"
    assert states["publish"] == "upstream_failed"
    # Everything downstream of the failed test is stopped by dbt itself: the Shopify tile in the warehouse was not
    # rebuilt from the duplicated order (it still counts each order once).
    con = duckdb.connect(str(warehouse_path()), read_only=True)
    try:
        assert con.execute("select sum(orders_count) from tiles.shopify_sales_daily").fetchone()[0] == len(expected_orders)
    finally:
        con.close()
    assert tiles_path().stat().st_mtime_ns == published_at  # the last good snapshot stays in place
    reads = json.loads(out.strip().splitlines()[-1])
    print(f"\nBI reader during the transform run: {reads['ok']} reads, {reads['errors']} errors")
    assert reads["errors"] == 0, reads["last_error"]
    assert reads["ok"] > 10
