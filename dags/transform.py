"""Airflow DAG `transform`: dbt (through Cosmos) whenever any provider's raw Asset updates, then publish the tiles snapshot."""

from dagkit.extract import raw_asset
from dagkit.transform import build_transform_dag

from pipelines.registry import extraction_providers

transform = build_transform_dag([raw_asset(p) for p in extraction_providers()])
