"""Run one provider's extraction: the entry point shared by the DAGs, the demo, the benchmarks and the tests.

Every provider gets the same guarantees here, whatever its source does:

- **Restartable.** Each run starts from a wiped local dlt working folder, so the incremental cursors always come from
  the state dlt committed *with the data* in `raw/<provider>.duckdb` (dlt restores the state of the last load listed
  in `_dlt_loads`). A crash mid-run re-extracts from the last complete load's cursor; `merge` on primary keys absorbs
  the overlap, so nothing is lost and nothing doubled.
- **Complete loads only reach dbt.** dlt commits a load table by table; a crash mid-load leaves the raw file
  half-applied. Only after a load completes is the raw file published (`storage.publish_raw`), and dbt attaches the
  published copy only.
- **No silent drift.** The source is normalised under one nesting depth and schema contract
  (`pipelines/common/raw_schema.py`); a type change fails the run with `SchemaDriftError` before anything is loaded,
  and new columns are kept and reported in the summary.
- **Clear, fast failures.** A terminal error (`pipelines.common.errors.TerminalError`: configuration, rejected
  credentials, drift, an unknown provider) is raised as itself, not wrapped in dlt's `PipelineStepFailed`, so the
  message says what to fix and the DAG's retry policy fails the task at once. A resource that fails on an HTTP
  request is reported as `ResourceFailed` naming the resource, the request (URL without its query), what happened and
  after how many attempts, also when dlt, closing the other parallel resources, raised something else in its place.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.common.runtime.collector import NULL_COLLECTOR
from dlt.common.schema.exceptions import DataValidationError
from dlt.extract.exceptions import ResourceExtractionError
from requests import RequestException

from pipelines.common.config import ProviderConfig, provider_config
from pipelines.common.errors import causes, safe_url, terminal_cause
from pipelines.common.http import request_counts
from pipelines.common.interval import reload_interval
from pipelines.common.logs import route_dlt_logging
from pipelines.common.progress import progress_collector
from pipelines.common.raw_schema import (
    RAW_TABLE_NESTING,
    SCHEMA_CONTRACT,
    drift_error,
    find_drift,
    new_columns,
    snapshot,
    variant_drift,
)
from pipelines.common.storage import ensure_duckdb_file, pipelines_dir, publish_raw, raw_db_path

log = logging.getLogger("opsdata.run")

# Memory flat in the data, for every provider (bench/bench_stripe.py, README "Performance"). Measured at the large
# world: with dlt's defaults (insert_values files, 20 load workers, DuckDB's default memory_limit of 80 % of RAM) the
# load step peaked at 8.7-10 GB. dlt splits an insert_values file into INSERT statements of up to 16 MB of SQL text
# and each of 20 workers hands one to DuckDB's parser at once; parquet is read by DuckDB as a stream of row groups.
LOADER_FILE_FORMAT = "parquet"
"""Typed columnar files (pyarrow) from normalize to DuckDB. Not jsonl: DuckDB's `read_json` infers types from the
data and fails on keys missing from some rows (dlt's own note), where parquet carries dlt's schema."""
DUCKDB_CONFIG = {"memory_limit": "384MB", "threads": 2}
"""DuckDB's buffer pool (it spills the merge's sorts and hash tables to `<file>.tmp` beyond it) and its threads,
on the pipeline's connection only; dbt's connection to the warehouse has its own settings. 384 MB, not 512: at
Klaviyo's xlarge world (4.5 M events merged) the load step peaked at 1.0 GB with 512 and 0.85 GB with 384; at large
the load did not get slower (3.5 s)."""
DLT_DEFAULTS = {
    # One writer per DuckDB file anyway: more workers only hold more files' data in memory at once.
    "LOAD__WORKERS": "4",
    # Rows a table's writer buffers before appending to its file (extract and normalize; default 5000): a page of
    # Stripe invoices with their lines is ~10 KB a row, times every table in flight.
    "DATA_WRITER__BUFFER_MAX_ITEMS": "1000",
    # A new file (one more load job) every 50k rows, so no single job reads a whole table.
    "DATA_WRITER__FILE_MAX_ITEMS": "50000",
    # Extracted files are gzipped by default, and live only until normalize has read them: at Klaviyo's large world
    # zlib was 20 s of the run's 72 s of CPU, all on the extract thread. Normalized files are parquet (compressed
    # by pyarrow either way). The cost is transient disk: about 3x the gzipped size, for one run's extracted data.
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    # Arrow tables (Klaviyo's events) get the same dlt columns as rows, so one table can be written by either.
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true",
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
}
"""dlt settings, as dlt reads them from the environment: an operator's own value for any of them wins."""


@dataclass
class RunSummary:
    provider: str
    seconds: float
    requests: int
    rows_extracted: dict[str, int] = field(default_factory=dict)
    load_info: Any = None
    new_columns: list[str] = field(default_factory=list)
    """`table.column (type)` for columns this load added to existing tables (kept; dbt ignores them until used)."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows_extracted.values())

    def describe(self) -> str:
        tables = ", ".join(f"{t}={n}" for t, n in sorted(self.rows_extracted.items()) if not t.startswith("_dlt"))
        text = f"{self.provider}: {self.total_rows} rows in {self.seconds:.1f}s, {self.requests} requests ({tables or 'no changes'})"
        return text + (f"; new columns: {', '.join(self.new_columns)}" if self.new_columns else "")


@contextmanager
def _unimportable(module: str) -> Iterator[None]:
    """`import <module>` raises ImportError inside the block (a missing optional dependency, as dlt sees it); the
    module is importable again afterwards. A no-op where it is already imported."""
    if module in sys.modules:
        yield
        return
    sys.modules[module] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get(module, False) is None:
            del sys.modules[module]


def init_dlt_context() -> None:
    """Create dlt's configuration context (its providers) without its Streamlit probe, and its URL type without
    SQLAlchemy. Idempotent.

    - Finding no `.dlt/secrets.toml` (this project's credentials come from the environment and Airflow
      Connections), dlt's secrets provider imports streamlit, installed here for the dashboard, to look for a running
      Streamlit app's secrets: 0.2 s of every run's start. A pipeline is not a Streamlit app, so `streamlit` is
      unimportable for that moment and dlt takes its "not installed" branch (a no-op where streamlit is already
      imported: there dlt may look).
    - At the end of every load dlt renders the destination's location for its load info (`str(credentials)`), and
      the first rendering imports SQLAlchemy for its `URL` type (`dlt.common.libs.sql_alchemy_compat`): 0.35 s of
      CPU after the last row is loaded, for a DuckDB destination that never uses SQLAlchemy. With `sqlalchemy`
      unimportable for that import, dlt binds its own `URL` shim (`sql_alchemy_shims`, what dlt uses where
      SQLAlchemy is not installed; the same rendering); SQLAlchemy itself stays importable (Airflow, where it is
      already imported, keeps the real one)."""
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    if "dlt.common.libs.sql_alchemy_compat" not in sys.modules:
        with _unimportable("sqlalchemy"):
            import dlt.common.libs.sql_alchemy_compat  # noqa: F401
    if "streamlit" in sys.modules or PluggableRunContext in Container():
        return
    with _unimportable("streamlit"):
        Container()[PluggableRunContext]


def make_pipeline(provider: str) -> dlt.Pipeline:
    path = ensure_duckdb_file(raw_db_path(provider))
    for key, value in DLT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    pipeline = dlt.pipeline(
        pipeline_name=provider,
        destination=dlt.destinations.duckdb({"database": str(path), "global_config": dict(DUCKDB_CONFIG)}),
        dataset_name=f"raw_{provider}",
        pipelines_dir=str(pipelines_dir()),
        progress=progress_collector(provider) or NULL_COLLECTOR,  # the demo's progress lines read it
    )
    # Forget local state and pending packages: state is restored from the destination on run.
    pipeline = pipeline.drop()
    route_dlt_logging()  # dlt's warnings at their own level in the task log, not as stderr "errors"
    return pipeline


def release_freed_memory() -> None:
    """Hand the heap that extract and normalize freed back to the OS before the load step, where DuckDB's buffer
    pool comes on top: glibc keeps freed memory in its per-thread arenas (the extract pool has a dozen threads), and
    at Klaviyo's xlarge world that was ~500 MB of RSS carried into the load. A no-op where libc has no malloc_trim."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@contextmanager
def cyclic_collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off inside the block (reference counting still frees everything else), on
    again afterwards if it was on.

    Why around normalize and load: they run after the last request, so every collector pass there lengthens the run.
    dlt's normalizer keeps up to `DATA_WRITER__BUFFER_MAX_ITEMS` rows per table in flight; those survive the young
    collections and trigger full ones, about 0.2 s of a Stripe medium full load's ~2 s after the last request
    (350 passes), all to find a few thousand objects in cycles (5,500 at the end of that load with the collector
    off, 1,300 with it on: a few hundred kB, not growing with the rows, since rows are plain dicts and lists).
    Extraction keeps the collector: its HTTP layer's objects are what a long extraction could accumulate."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_source(provider: str, config: ProviderConfig | None = None, **options: Any) -> Any:
    """The provider's dlt source, from its registry entry, for a resolved configuration."""
    from pipelines.registry import get_provider

    entry = get_provider(provider)  # an unknown name fails here, naming the registered ones
    assert entry.source is not None  # validated by the registry
    source = entry.source(config or provider_config(provider, **options))
    # One nesting depth for every provider, chosen in pipelines/common/raw_schema.py (README, storage layout).
    source.max_table_nesting = RAW_TABLE_NESTING
    return source


SYNC_MARK_KEY = "last_sync_started_at"


def sync_mark() -> Any:
    """A resource that yields no rows and only stamps the source's state with the run's start, so that every
    successful run completes a dlt load (dlt drops a package with no rows and unchanged state). dbt's source
    freshness reads the last completed load in `_dlt_loads` for every table (models/staging/*/_*__sources.yml): a
    run that found nothing new still says the data is current, and a table that rarely changes (an SLA policy, a
    campaign) is as fresh as the last sync, not as its last change."""

    @dlt.resource(name="sync_mark", selected=True)
    def mark() -> Any:
        dlt.current.source_state()[SYNC_MARK_KEY] = time.time()
        yield from ()

    return mark


def run_provider(provider: str, *, resources: list[str] | None = None, **options: Any) -> RunSummary:
    started = time.monotonic()
    requests_before = request_counts[provider]
    init_dlt_context()
    try:
        source = build_source(provider, **options)
        if resources:
            source = source.with_resources(*resources)
        if reload_interval(provider, options) is None:  # a backfill's reload leaves the state as it was
            source.resources.add(sync_mark())
        pipeline = make_pipeline(provider)
        # What is alive now (imported modules, dlt's configuration, the source) lives as long as the run: out of the
        # cyclic collector's full passes, which otherwise re-scan it every time the run's rows trigger one (a Stripe
        # medium full load: ~0.6 s of collector CPU, much of it after the last request). Unfrozen after the run, so a
        # process that runs many (the tests, a long-lived worker) still collects what an earlier run left behind.
        gc.freeze()
        try:
            load_info, rows, added = _extract_check_load(provider, pipeline, source)
        finally:
            gc.unfreeze()
    except Exception as exc:
        terminal = terminal_cause(exc)
        if terminal is not None and terminal is not exc:
            raise terminal from None  # its own traceback shows where it was raised; dlt's wrapper adds nothing
        failed = failed_resource(provider, exc)
        if failed is not None:
            raise failed[0] from failed[1]
        raise
    summary = RunSummary(
        provider=provider,
        seconds=time.monotonic() - started,
        requests=request_counts[provider] - requests_before,
        rows_extracted=rows,
        load_info=load_info,
        new_columns=added,
    )
    if added:
        log.warning("%s: new columns kept (no model reads them yet): %s", provider, ", ".join(added))
    log.info(summary.describe())
    return summary


class ResourceFailed(Exception):
    """A resource of the source failed (an HTTP request after the client layer's retries, or the source's own code)."""


def failed_resource(provider: str, error: BaseException) -> tuple[ResourceFailed, BaseException] | None:
    """The failure behind `error` when a resource failed on an HTTP request, or behind what dlt raised instead: when
    one parallelized resource fails, dlt closes the others, and closing one still executing in a worker thread raises
    `ValueError: generator already executing`, which dlt reports in place of the failure (dlt 1.31). None otherwise.

    Returns (a `ResourceFailed` naming the provider, the resource, what happened, the URL without its query and the
    attempts; the original exception, to raise it from)."""
    chain = list(causes(error))
    masked = any(isinstance(e, ValueError) and "generator already executing" in str(e) for e in chain)
    extraction = next((e for e in chain if isinstance(e, ResourceExtractionError)), None)
    if extraction is None:
        return None
    original = extraction.__cause__ or extraction
    if isinstance(original, RequestException):
        response = original.response
        request = original.request or (response.request if response is not None else None)
        what = f"HTTP {response.status_code}" if response is not None else type(original).__name__
        timeout = re.search(r"\((read|connect) timeout=[\d.]+\)", str(original))
        what += f" {timeout.group(0)}" if timeout and response is None else ""
        method = request.method if request is not None else "GET"
        url = safe_url(request.url if request is not None else response.url if response is not None else None)
        attempts = getattr(original, "attempts", None)
        tail = f" (after {attempts} attempt{'s' if attempts != 1 else ''})" if attempts else ""
        return ResourceFailed(f"{provider}: the {extraction.pipe_name} resource failed: {what} for {method} {url}{tail}"), original
    if masked:
        return ResourceFailed(f"{provider}: the {extraction.pipe_name} resource failed: {type(original).__name__}: {original}"), original
    return None


def _extract_check_load(provider: str, pipeline: dlt.Pipeline, source: Any) -> tuple[LoadInfo, dict[str, int], list[str]]:
    """Extract and normalise; refuse a package that changes a committed column's type; load; publish."""
    pipeline.sync_destination()  # the committed state and schema, from the raw file
    committed: dict[str, dict[str, dict[str, Any]]] = snapshot(pipeline.default_schema.tables) if pipeline.default_schema_name else {}
    try:
        pipeline.extract(source, schema_contract=SCHEMA_CONTRACT, loader_file_format=LOADER_FILE_FORMAT)  # type: ignore[arg-type]
        with cyclic_collector_paused():
            normalize_info = pipeline.normalize()
    except Exception as exc:
        violation = next((e for e in causes(exc) if isinstance(e, DataValidationError)), None)
        if violation is None or not violation.column_name:
            raise
        drift = variant_drift(violation.table_name, violation.column_name, violation.data_item, committed)
        pipeline.drop()  # the normalised package goes, unloaded (the next run starts from a wiped folder anyway)
        raise drift_error(provider, [drift]) from None  # dlt's message quotes the row's keys: never propagated
    normalized = snapshot(pipeline.default_schema.tables)
    drifts = find_drift(committed, normalized)
    if drifts:
        pipeline.drop()
        raise drift_error(provider, drifts)
    release_freed_memory()
    with cyclic_collector_paused():
        load_info = pipeline.load()
    if load_info.has_failed_jobs:
        raise RuntimeError(f"{provider}: {len(load_info.load_packages)} load package(s) had failed jobs; not published")
    publish_raw(provider)
    rows = {t: n for t, n in normalize_info.row_counts.items() if not t.startswith("_dlt")}
    return load_info, rows, new_columns(committed, normalized)
