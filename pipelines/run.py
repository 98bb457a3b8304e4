"""Run one provider's extraction: the entry point shared by the DAGs, the demo, the benchmarks and the tests.

Each run starts from a wiped local dlt working folder, so the incremental cursors always come from the state dlt
committed *with the data* in `raw/<provider>.duckdb`. A crash mid-run therefore leaves nothing half-applied: the next
run re-extracts from the last committed cursor and `merge` on primary keys absorbs any overlap.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.common.runtime.collector import NULL_COLLECTOR

from pipelines.common.config import ProviderConfig, provider_config
from pipelines.common.http import request_counts
from pipelines.common.logs import route_dlt_logging
from pipelines.common.progress import progress_collector
from pipelines.common.storage import ensure_duckdb_file, pipelines_dir, raw_db_path

log = logging.getLogger("opsdata.run")


@dataclass
class RunSummary:
    provider: str
    seconds: float
    requests: int
    rows_extracted: dict[str, int] = field(default_factory=dict)
    load_info: Any = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows_extracted.values())

    def describe(self) -> str:
        tables = ", ".join(f"{t}={n}" for t, n in sorted(self.rows_extracted.items()) if not t.startswith("_dlt"))
        return f"{self.provider}: {self.total_rows} rows in {self.seconds:.1f}s, {self.requests} requests ({tables or 'no changes'})"


def make_pipeline(provider: str) -> dlt.Pipeline:
    path = ensure_duckdb_file(raw_db_path(provider))
    pipeline = dlt.pipeline(
        pipeline_name=provider,
        destination=dlt.destinations.duckdb(str(path)),
        dataset_name=f"raw_{provider}",
        pipelines_dir=str(pipelines_dir()),
        progress=progress_collector(provider) or NULL_COLLECTOR,  # the demo's progress lines read it
    )
    # Forget local state and pending packages: state is restored from the destination on run.
    pipeline = pipeline.drop()
    route_dlt_logging()  # dlt's warnings at their own level in the task log, not as stderr "errors"
    return pipeline


def build_source(provider: str, config: ProviderConfig | None = None, **options: Any) -> Any:
    """The provider's dlt source, from its registry entry, for a resolved configuration."""
    from pipelines.registry import get_provider

    entry = get_provider(provider)  # an unknown name fails here, naming the registered ones
    assert entry.source is not None  # validated by the registry
    return entry.source(config or provider_config(provider, **options))


def run_provider(provider: str, *, resources: list[str] | None = None, **options: Any) -> RunSummary:
    started = time.monotonic()
    requests_before = request_counts[provider]
    source = build_source(provider, **options)
    if resources:
        source = source.with_resources(*resources)
    pipeline = make_pipeline(provider)
    load_info: LoadInfo = pipeline.run(source)
    rows: dict[str, int] = {}
    trace = pipeline.last_trace
    if trace is not None and trace.last_normalize_info is not None:
        rows = {t: n for t, n in trace.last_normalize_info.row_counts.items() if not t.startswith("_dlt")}
    summary = RunSummary(
        provider=provider,
        seconds=time.monotonic() - started,
        requests=request_counts[provider] - requests_before,
        rows_extracted=rows,
        load_info=load_info,
    )
    log.info(summary.describe())
    return summary
