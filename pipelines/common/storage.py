"""Where the warehouse lives, and the DuckDB storage layout.

DuckDB allows one read-write process per file, and a reader cannot open a file another process writes. So:

- `raw/<provider>.duckdb`: one file per provider, written only by that provider's dlt pipeline (dataset
  `raw_<provider>` inside it). Providers extract in parallel without contending for a lock.
- `raw/published/<provider>.duckdb`: a byte copy of the raw file taken after each *complete* load and swapped in
  atomically (`publish_raw`). dlt commits a load table by table, so a crash (kill -9, a full disk) mid-load leaves
  the raw file half-applied until the next run repairs it; dbt attaches only the published copy, so it never reads
  a half-applied load, whichever Asset triggers it.
- `warehouse.duckdb`: written only by dbt; it attaches the published raw copies read-only.
- `bi.duckdb`: a read-only copy of the tile tables, replaced atomically after each green `dbt build`.
  BI tools read this file and never block (or get blocked by) the pipelines.

Every file is created with `storage_compatibility_version` so DuckDB 1.x tools (and node bindings) can read it.
"""

from __future__ import annotations

import os
import shutil
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


def published_raw_path(provider: str) -> Path:
    """The last complete load of `provider`'s raw file: what dbt reads (same stem as the raw file, for the same
    reason: dbt attaches it as `raw_<provider>`)."""
    path = data_dir() / "raw" / "published" / f"{provider}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def publish_raw(provider: str) -> Path:
    """Copy the raw file, just after a complete load, over the published copy: atomically, durably.

    The raw file is checkpointed first, so the copy holds every committed transaction with no write-ahead log beside
    it. A crash before the rename leaves the previous published copy in place (and a stray temporary file, removed
    by the next publish). The caller holds the raw file's writer lock (the extraction and the reverse sync do).
    """
    import duckdb

    source = raw_db_path(provider)
    target = published_raw_path(provider)
    with duckdb.connect(str(source)) as con:
        con.execute("CHECKPOINT")
    wal = source.with_name(source.name + ".wal")
    if wal.exists() and wal.stat().st_size:
        raise RuntimeError(f"{source} still has a write-ahead log after a checkpoint; not publishing a partial copy")
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
    return target
