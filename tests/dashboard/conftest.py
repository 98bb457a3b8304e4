"""One small world, extracted, built by dbt and published once for the dashboard tests (logic and browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import point_at_sandbox


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The data folder of a small world with every tile, business_overview and the source freshness published."""
    from pipelines.registry import extraction_providers
    from pipelines.run import run_provider
    from pipelines.transform import publish, run_dbt, source_freshness
    from sandbox.server import SandboxServer

    data = tmp_path_factory.mktemp("dashboard-data")
    with pytest.MonkeyPatch.context() as mp, SandboxServer(scale="small", latency="zero") as server:
        mp.setenv("OPSDATA_DATA_DIR", str(data))
        point_at_sandbox(mp, server.url)
        mp.setenv("OPSDATA_FAST_RETRIES", "1")
        mp.setenv("STRIPE_RATE_LIMIT_PER_SECOND", "1000")
        mp.setenv("KLAVIYO_RATE_LIMIT_SCALE", "20")
        server.state.provider_store("klaviyo")["rate_scale"] = 20.0
        mp.setenv("ZENDESK_RATE_LIMIT_SCALE", "60")  # the export limit (10/min) scaled on both sides
        server.state.options["zendesk_rate_scale"] = 60
        for provider in extraction_providers():  # every page: every registered provider's tiles
            run_provider(provider.name)
        as_of = server.world.now.date().isoformat()
        run_dbt("build", "--exclude", "resource_type:test", "resource_type:unit_test", as_of_date=as_of,
                target_path=str(data / "target"))
        source_freshness(as_of_date=as_of)
        publish()
    yield data


@pytest.fixture
def on_published(published: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSDATA_DATA_DIR", str(published))
    return published


def tile(data: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    import duckdb

    with duckdb.connect(str(data / "bi.duckdb"), read_only=True) as con:
        cur = con.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
