"""dbt-duckdb plugin: attach every provider's raw DuckDB file, read-only, on each dbt connection.

A static `attach:` list in profiles.yml would need an edit per provider; this reads the registry instead, so adding a
provider stays "its folders + one registry line". A provider never loaded yet gets an empty file (its staging models
then fail loudly on the missing tables, which is what we want).
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from pipelines.common.storage import ensure_duckdb_file, raw_db_path
from pipelines.registry import extraction_providers


class Plugin(BasePlugin):
    def configure_connection(self, conn: Any) -> None:
        for provider in extraction_providers():
            path = ensure_duckdb_file(raw_db_path(provider.name))
            conn.execute(f"ATTACH IF NOT EXISTS '{path}' AS {provider.dataset} (READ_ONLY)")
