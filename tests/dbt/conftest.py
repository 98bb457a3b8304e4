"""One extraction of the unadvanced small world per provider, shared by every dbt test module of the session.

Several modules start from the same full load of the same world (seed 42, small, zero latency): the business overview
needs every provider, Klaviyo and Meta need Shopify beside their own, Zendesk and Stripe do a full load before they
advance the world. Each provider is extracted once, by the real `run_provider` against a sandbox of that world, into
a session cache; each module copies the raw files into its own data folder and goes on from there (dbt, or advancing
its own sandbox and loading incrementally: dlt's state and cursors travel inside the raw file). The world is rebuilt
from its seed in every module, so ground truth still comes from the module's own world, never from the copy.

The modules that only read the unadvanced world's tiles (the business overview, Klaviyo, Meta) also share one dbt
build of the union of their selections, with its source freshness (`small_world_build`): each copies the built data
folder and reads or goes on from there.

Under pytest-xdist the cache is shared by the workers (the documented pattern: a file lock in the session's common
temporary folder); one process extracts a provider while the others wait for it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

from pipelines.common.storage import published_raw_path, raw_db_path
from tests.conftest import point_at_sandbox

# Client and simulator limits scaled alike, as every dbt module did for itself: the same client code, shorter waits.
RATE_ENV = {
    "OPSDATA_FAST_RETRIES": "1",
    "STRIPE_RATE_LIMIT_PER_SECOND": "1000",
    "KLAVIYO_RATE_LIMIT_SCALE": "20",
    "ZENDESK_RATE_LIMIT_SCALE": "60",
}
SANDBOX_OPTIONS = {"klaviyo_rate_scale": 20.0, "zendesk_rate_scale": 60}


def _extract(provider: str, data: Path) -> None:
    from pipelines.run import run_provider
    from sandbox.server import SandboxServer

    with pytest.MonkeyPatch.context() as mp, SandboxServer(scale="small", latency="zero", options=SANDBOX_OPTIONS) as server:
        mp.setenv("OPSDATA_DATA_DIR", str(data))
        point_at_sandbox(mp, server.url)
        for name, value in RATE_ENV.items():
            mp.setenv(name, value)
        run_provider(provider)


class SmallWorldExtractions:
    """`copy_into(data, *providers)`: put each provider's full load of the unadvanced small world in `data/raw/`."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache

    def _ensure(self, provider: str) -> Path:
        folder = self.cache / provider
        done = folder / "complete"
        with FileLock(str(self.cache / f"{provider}.lock")):
            if not done.exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                _extract(provider, folder)
                done.touch()
        return folder

    def copy_into(self, data: Path, *providers: str) -> None:
        previous = os.environ.get("OPSDATA_DATA_DIR")
        for provider in providers:
            folder = self._ensure(provider)
            try:  # the storage helpers name the files; they read the data folder from the environment
                os.environ["OPSDATA_DATA_DIR"] = str(folder)
                sources = raw_db_path(provider), published_raw_path(provider)
                os.environ["OPSDATA_DATA_DIR"] = str(data)
                targets = raw_db_path(provider), published_raw_path(provider)
            finally:
                if previous is None:
                    os.environ.pop("OPSDATA_DATA_DIR", None)
                else:
                    os.environ["OPSDATA_DATA_DIR"] = previous
            for source, target in zip(sources, targets, strict=True):
                shutil.copyfile(source, target)


@pytest.fixture(scope="session")
def small_world_extractions(tmp_path_factory: pytest.TempPathFactory) -> SmallWorldExtractions:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's basetemp is a folder of the session's: its parent is common to all of them.
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache = root / "small-world-extractions"
    cache.mkdir(exist_ok=True)
    return SmallWorldExtractions(cache)


# Each reading module's selection; the shared build is their union (cautious: a test runs when all its parents are built).
OVERVIEW_SELECT = ["+business_overview"]
KLAVIYO_SELECT = ["+path:models/tiles/klaviyo", "path:models/staging/klaviyo", "path:models/intermediate/klaviyo",
                  "+path:models/marts/klaviyo", "path:tests/klaviyo"]
# marts/meta includes meta_overview_components, which reads marts.reporting_periods: its parents are built too.
META_SELECT = ["+path:models/tiles/meta", "path:models/staging/meta", "path:models/intermediate/meta", "+path:models/marts/meta"]


class SmallWorldBuild:
    """`copy_into(data)`: a data folder with every provider's full load of the unadvanced small world, dbt built over
    it (`OVERVIEW_SELECT`, `KLAVIYO_SELECT`, `META_SELECT`) and its source freshness. `as_of` is the build's date."""

    def __init__(self, folder: Path, extractions: SmallWorldExtractions) -> None:
        self.folder, self.extractions = folder, extractions
        self.as_of = ""

    def _ensure(self) -> Path:
        from pipelines.registry import extraction_providers
        from pipelines.transform import run_dbt, source_freshness
        from sandbox.world import World

        data = self.folder / "data"
        done = self.folder / "complete"
        with FileLock(str(self.folder) + ".lock"):
            if not done.exists():
                shutil.rmtree(data, ignore_errors=True)
                data.mkdir(parents=True)
                self.extractions.copy_into(data, *(p.name for p in extraction_providers()))
                as_of = World(seed=42, scale="small").now.date().isoformat()  # the seed and scale SandboxServer defaults to
                with pytest.MonkeyPatch.context() as mp:
                    mp.setenv("OPSDATA_DATA_DIR", str(data))
                    run_dbt("build", "--select", *OVERVIEW_SELECT, *KLAVIYO_SELECT, *META_SELECT, "--indirect-selection",
                            "cautious", as_of_date=as_of, target_path=str(data / "target"))
                    if source_freshness(as_of_date=as_of) is None:
                        raise RuntimeError("dbt source freshness wrote no sources.json")
                (self.folder / "as_of").write_text(as_of)
                done.touch()
        self.as_of = (self.folder / "as_of").read_text()
        return data

    def copy_into(self, data: Path) -> None:
        """Copy the built data folder into `data`, with the build's parse as `data/target/partial_parse.msgpack`, so a
        dbt command there (`--target-path data/target`, this `as_of`) re-parses nothing."""
        built = self._ensure()
        shutil.copytree(built, data, dirs_exist_ok=True, ignore=shutil.ignore_patterns("dbt_freshness_target", "*.lock"))


@pytest.fixture(scope="session")
def small_world_build(small_world_extractions: SmallWorldExtractions) -> SmallWorldBuild:
    return SmallWorldBuild(small_world_extractions.cache.parent / "small-world-build", small_world_extractions)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run order for `make test-fast` (xdist `--dist loadfile --no-loadscope-reorder` hands out files in this order):
    one module that needs the shared build first, so both the extractions and the build start at once; the modules
    that need only extractions next; everything else; the other readers of the shared build last, when it is done, so
    no worker waits on its lock. A stable sort: the order inside each group, and inside each module, is kept."""
    first_reader: list[Path] = []

    def group(item: pytest.Item) -> int:
        names = getattr(item, "fixturenames", ())
        if "small_world_build" in names:
            if not first_reader:
                first_reader.append(item.path)
            return 0 if item.path == first_reader[0] else 3
        return 1 if "small_world_extractions" in names else 2

    items.sort(key=group)
