"""`fakeshop`: a tiny provider registered for one test only, to exercise the DAG factory without a real API.

`install(monkeypatch)` adds a registry entry (a `Provider` contract with a reconcile schedule and interval reload)
and a `sandbox.fakeshop` simulator module. The "API" is an in-memory list of records with `updated_at`; the source
honours the DAG contract's options: `interval_start` / `interval_end` (reload exactly that interval, cursor
untouched), `mode="reconcile"`.
"""

from __future__ import annotations

import fcntl
import os
import sys
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pytest

NAME = "fakeshop"
BASE = datetime(2026, 10, 1, tzinfo=UTC)


@dataclass
class FakeApi:
    records: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    fail_with: BaseException | None = None
    lock_was_held: list[bool] = field(default_factory=list)

    def set_amount(self, record_id: int, amount: int) -> None:
        for record in self.records:
            if record["id"] == record_id:
                record["amount"] = amount


def make_records() -> list[dict[str, Any]]:
    """30 records, one per day from 2026-10-01, updated at noon."""
    return [
        {"id": i, "amount": 100 + i, "updated_at": BASE + timedelta(days=i, hours=12)}
        for i in range(30)
    ]


def _raw_lock_held() -> bool:
    """True if another open file description holds the raw file's lock (flock conflicts even within a process)."""
    from dagkit.locks import lock_path

    fd = os.open(lock_path(f"raw_{NAME}"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def install(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    from fastapi import FastAPI

    from pipelines.contract import Credential, Provider, RateLimit
    from sandbox.common.simulator import Simulator

    api = FakeApi(records=make_records())

    @dlt.source(name=NAME)
    def source(config: Any) -> Any:
        options = config.options
        api.calls.append(dict(options))
        api.lock_was_held.append(_raw_lock_held())
        if api.fail_with is not None:
            raise api.fail_with
        if "interval_start" in options:
            # An explicit window: stateless (end_value set), so the incremental cursor is not moved.
            cursor = dlt.sources.incremental(
                "updated_at",
                initial_value=datetime.fromisoformat(options["interval_start"]),
                end_value=datetime.fromisoformat(options["interval_end"]),
            )
        else:
            cursor = dlt.sources.incremental("updated_at", initial_value=BASE)

        @dlt.resource(name="items", primary_key="id", write_disposition="merge")
        def items(updated_at: Any = cursor) -> Any:
            yield [dict(r) for r in api.records]

        return items

    sandbox_module = types.ModuleType(f"sandbox.{NAME}")
    sandbox_module.SIMULATOR = Simulator(lambda state: FastAPI(), credentials={"api_key": "fake-sandbox-key"})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, f"sandbox.{NAME}", sandbox_module)
    monkeypatch.setenv("FAKESHOP_API_KEY", "fake-key-123")
    provider = Provider(
        name=NAME,
        description="Fake shop",
        credentials=(Credential("api_key", "FAKESHOP_API_KEY"),),
        sandbox=f"sandbox.{NAME}",
        schedule="0 0 * * *",
        production_base_url="https://fake.example.com",
        rate_limit=RateLimit(per_second=100, burst=10),
        source=source,
        interval_reload=True,
        reconcile_schedule="0 3 * * 0",
    )
    register(monkeypatch, provider)
    return api


def register(monkeypatch: pytest.MonkeyPatch, provider: Any) -> None:
    """Put `provider` in the registry (replacing an entry of the same name) for this test only."""
    from pipelines import registry
    from pipelines.contract import Registry

    entries = [e for e in registry.REGISTRY.entries if e.name != provider.name]
    monkeypatch.setattr(registry, "REGISTRY", Registry((*entries, provider)))


def raw_rows() -> dict[int, int]:
    """id -> amount currently in `raw_fakeshop.items`."""
    import duckdb

    from pipelines.common.storage import raw_db_path

    con = duckdb.connect(str(raw_db_path(NAME)), read_only=True)
    try:
        return dict(con.execute(f"select id, amount from raw_{NAME}.items order by id").fetchall())
    finally:
        con.close()
