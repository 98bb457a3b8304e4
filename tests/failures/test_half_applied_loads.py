"""A crash never lets dbt read a half-applied load, for every provider.

Every provider is loaded completely and the tiles are built (T1). The world moves on; then, for each provider, its
next run is killed (SIGKILL) at points spread over its load (the SQL statements dlt runs against the raw file, and
the publish of the raw copy), each time in a fresh copy of the data folder. After each kill, without re-running
the extraction: the file dbt attaches for the provider is byte-identical to the previous complete load's, and
`dbt run` over the provider's models gives exactly T1 (checked after the kills that left the raw file itself
half-applied, the case that used to leak into the tiles).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.common.dbt_attach import attached_files
from pipelines.registry import extraction_providers
from pipelines.run import run_provider
from pipelines.transform import run_dbt
from tests.conftest import point_at_sandbox
from tests.failures.conftest import completed_loads, environment, file_digest, record_outcome, table_fingerprint
from tests.failures.facts import facts_for
from tests.failures.processes import Point, count_steps, kill_at, spread

KILLS_PER_PROVIDER = 3
"""Random points per provider, besides the worst one (every table committed, the load not yet recorded)."""
DBT_CHECKS_PER_PROVIDER = 1


def tiles(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every tile table of the warehouse in `data_dir`, rows sorted."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        names = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'tiles' order by 1"
        ).fetchall()]
        return {t: sorted(con.execute(f'select * from tiles."{t}"').fetchall(), key=repr) for t in names}


def dbt_reads(provider: str, data_dir: Path) -> Path:
    """The file the dbt attach plugin attaches for `provider` when the data folder is `data_dir`."""
    with environment({"OPSDATA_DATA_DIR": str(data_dir)}):
        return attached_files()[f"raw_{provider}"]


@pytest.mark.fault("kill -9 at random points of the load, then dbt")
@pytest.mark.timeout(1800)  # about 15 processes killed and a few dbt runs: minutes on a busy machine
def test_a_killed_load_never_reaches_the_tiles(
    sandbox: Any, warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scanned: list[str]
) -> None:
    point_at_sandbox(monkeypatch, sandbox.url)
    monkeypatch.setenv("OPSDATA_FAST_RETRIES", "1")
    providers = [p.name for p in extraction_providers()]
    for name in providers:
        facts = facts_for(name)
        for variable, value in facts.env.items():
            monkeypatch.setenv(variable, value)
        if facts.prepare is not None:
            facts.prepare(sandbox)
        run_provider(name)
    as_of = sandbox.world.now.date().isoformat()
    run_dbt("run", as_of_date=as_of, target_path=str(tmp_path / "target"))
    before = tiles(warehouse)
    assert before and all(before.values()), "every tile has rows to compare"
    sandbox.world.advance(7)  # the next load of each provider changes existing rows and adds new ones
    base = tmp_path / "base"
    shutil.copytree(warehouse, base)
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)

    for name in providers:
        dataset = f"raw_{name}"
        published = file_digest(dbt_reads(name, base))
        raw = table_fingerprint(base / "raw" / f"{name}.duckdb", dataset)
        counts = count_steps(name, shutil.copytree(base, tmp_path / f"{name}-count"), monkeypatch)
        half_applied, dbt_checked = 0, 0
        points = spread(counts, ("load", "publish"), KILLS_PER_PROVIDER, rng)
        last = Point("record", 1)  # every table committed, the load not yet recorded: the worst moment
        for i, point in enumerate([last, *(p for p in points if p != last)]):
            data = shutil.copytree(base, tmp_path / f"{name}-kill-{i}")
            kill_at(name, point, data, scanned)
            raw_path = data / "raw" / f"{name}.duckdb"
            if completed_loads(raw_path, dataset) == completed_loads(base / "raw" / f"{name}.duckdb", dataset) and (
                table_fingerprint(raw_path, dataset) != raw
            ):
                half_applied += 1  # some tables committed, the load not: what dbt used to read
                if dbt_checked < DBT_CHECKS_PER_PROVIDER:
                    with environment({"OPSDATA_DATA_DIR": str(data)}):
                        run_dbt("run", "--select", f"source:{name}+", as_of_date=as_of, target_path=str(tmp_path / "target"))
                    moved = sorted(t for t in before if tiles(data).get(t) != before[t])
                    assert not moved, f"{name}: tiles {moved} moved after a kill at {point} (seed {seed})"
                    dbt_checked += 1
            assert file_digest(dbt_reads(name, data)) == published, f"{name}: dbt's copy changed, killed at {point} (seed {seed})"
        assert half_applied, f"{name}: no kill left the raw file half-applied (seed {seed}, steps {counts}): widen the points"
        record_outcome(
            name, "kill -9 at random points of the load, then dbt",
            f"{i + 1} kills over {counts['load']} load + {counts['publish']} publish steps, the first just before "
            f"the load's record "
            f"({half_applied} left the raw file half-applied): dbt's copy unchanged each time, tiles = previous load's "
            f"after {dbt_checked} dbt runs (seed {seed})",
        )
