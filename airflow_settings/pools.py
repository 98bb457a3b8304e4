"""The Airflow pools the DAGs use, derived from the registry, and a command that creates them.

`python -m airflow_settings.pools` (run by the demo, by `airflow-init` in docker-compose, and safe to re-run) creates
or updates every pool. Pools are the Airflow half of the DuckDB single-writer rule (the other half is the file
locks in `dags/dagkit/locks.py`, which also cover processes outside Airflow):

- `extract_<provider>` (1 slot): one writer per `raw_<provider>.duckdb`, and one consumer of the provider's rate
  limit (an `extract_<p>` run and a `reconcile_<p>` run never overlap).
- `duckdb_warehouse` (1 slot): dbt and `publish()` are the only writers of `warehouse.duckdb` / `tiles.duckdb`.
"""

from __future__ import annotations

from dataclasses import dataclass

WAREHOUSE_POOL = "duckdb_warehouse"


@dataclass(frozen=True)
class PoolSpec:
    name: str
    slots: int
    description: str


def required_pools() -> list[PoolSpec]:
    """Every pool a DAG in `dags/` refers to."""
    from pipelines.registry import extraction_providers

    pools = [
        PoolSpec(p.pool, 1, f"One writer of raw_{p.name}.duckdb and one consumer of the {p.name} rate limit")
        for p in extraction_providers()
    ]
    pools.append(PoolSpec(WAREHOUSE_POOL, 1, "dbt and publish(): the single writer of warehouse.duckdb"))
    return pools


def create_pools() -> list[PoolSpec]:
    """Create or update the pools in the Airflow metadata DB (needs `airflow db migrate` first)."""
    from airflow.models.pool import Pool

    pools = required_pools()
    for spec in pools:
        Pool.create_or_update_pool(spec.name, spec.slots, spec.description, include_deferred=False)
    return pools


if __name__ == "__main__":
    for created in create_pools():
        print(f"pool {created.name}: {created.slots} slot(s)")
