"""dbt-duckdb plugin: attach every provider's *published* raw copy, read-only, on each dbt connection.

The published copy (`raw/published/<provider>.duckdb`, see `pipelines/common/storage.py`) is replaced only after a
complete load, so dbt never reads a load that a crash left half-applied in the raw file itself, whichever provider's
Asset triggered it. A static `attach:` list in profiles.yml would need an edit per provider; this reads the registry
instead, so adding a provider stays "its folders + one registry line". A provider never loaded yet gets an empty
file (its staging models then fail loudly on the missing tables, which is what we want).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from pipelines.common.storage import ensure_duckdb_file, published_raw_path
from pipelines.registry import extraction_providers


def attached_files() -> dict[str, Path]:
    """Catalog name -> the file dbt reads for it: every provider's published raw copy."""
    return {provider.dataset: published_raw_path(provider.name) for provider in extraction_providers()}


class Plugin(BasePlugin):
    def configure_connection(self, conn: Any) -> None:
        for catalog, path in attached_files().items():
            conn.execute(f"ATTACH IF NOT EXISTS '{ensure_duckdb_file(path)}' AS {catalog} (READ_ONLY)")
