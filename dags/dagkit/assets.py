"""Assets shared between DAGs. Raw Assets come from the registry (`dagkit.extract.raw_asset`)."""

from __future__ import annotations

from airflow.sdk import Asset

TILES = Asset(uri="duckdb://published/tiles", name="tiles", group="tiles")
"""Published after every green dbt build: `bi.duckdb`, the read-only snapshot BI tools and the digest read."""
