"""Where the warehouse lives, and the DuckDB storage layout.

DuckDB allows one read-write process per file, and a reader cannot open a file another process writes. So:

- `raw/<provider>.duckdb`: one file per provider, written only by that provider's dlt pipeline (dataset
  `raw_<provider>` inside it). Providers extract in parallel without contending for a lock.
- `warehouse.duckdb`: written only by dbt; it attaches the raw files read-only.
- `bi.duckdb`: a read-only copy of the tile tables, replaced atomically after each green `dbt build`.
  BI tools read this file and never block (or get blocked by) the pipelines.

Every file is created with `storage_compatibility_version` so DuckDB 1.x tools (and node bindings) can read it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STORAGE_COMPATIBILITY_VERSION = "v1.4.0"


def data_dir() -> Path:
    path = Path(os.environ.get("OPSDATA_DATA_DIR", REPO_ROOT / "data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def raw_db_path(provider: str) -> Path:
    # The file stem must differ from the dataset name: dlt uses 2-part names (`raw_shopify.orders`), which DuckDB finds
    # ambiguous when the catalog (file stem) and the schema share a name. dbt attaches it as `raw_<provider>` and uses
    # 3-part names, which are not ambiguous.
    path = data_dir() / "raw" / f"{provider}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_path() -> Path:
    return data_dir() / "warehouse.duckdb"


def tiles_path() -> Path:
    """The published BI copy (schemas `tiles` and `marts`). Named `bi`, not `tiles`: a file stem equal to a schema
    name makes DuckDB's 2-part names (`tiles.shopify_sales_daily`) ambiguous."""
    return data_dir() / "bi.duckdb"


def pipelines_dir() -> Path:
    """dlt's local working folder. It is wiped before every run: state always comes back from the raw file."""
    return data_dir() / "dlt_pipelines"


def ensure_duckdb_file(path: Path) -> Path:
    """Create an empty DuckDB file readable by DuckDB 1.x, unless it exists (later opens keep its version)."""
    import duckdb

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY_VERSION}).close()
    return path
