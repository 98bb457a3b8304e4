"""The cyclic garbage collector is off while dlt normalizes and loads (after the last request, where each of its passes
lengthens the run), on during extraction, and on again after a run, also one that fails."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest

from pipelines import run


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    gc.enable() if was else gc.disable()


def test_paused_inside_and_restored_after_an_error(collector_on: None) -> None:
    with run.cyclic_collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), run.cyclic_collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_left_off_when_it_was_off(collector_on: None) -> None:
    gc.disable()
    with run.cyclic_collector_paused():
        pass
    assert not gc.isenabled()


def _steps_seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    seen: dict[str, bool] = {}
    for step in ("extract", "normalize", "load"):
        method = getattr(dlt.Pipeline, step)

        def wrapper(self: Any, *args: Any, _step: str = step, _method: Any = method, **kwargs: Any) -> Any:
            seen[_step] = gc.isenabled()
            return _method(self, *args, **kwargs)

        monkeypatch.setattr(dlt.Pipeline, step, wrapper)
    return seen


def test_off_for_normalize_and_load_only(collector_on: None, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _steps_seen(monkeypatch)

    @dlt.source(name="probe")
    def probe() -> Any:
        @dlt.resource(name="rows", primary_key="id", write_disposition="merge")
        def rows() -> Iterator[list[dict[str, Any]]]:
            yield [{"id": i, "n": i * i} for i in range(10)]

        return rows

    pipeline = run.make_pipeline("probe")
    _, rows, _ = run._extract_check_load("probe", pipeline, probe())
    assert rows == {"rows": 10}
    assert seen == {"extract": True, "normalize": False, "load": False}
    assert gc.isenabled()


def test_on_again_after_a_failed_load(collector_on: None, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_load(self: Any, *args: Any, **kwargs: Any) -> Any:
        assert not gc.isenabled()
        raise RuntimeError("the load failed")

    monkeypatch.setattr(dlt.Pipeline, "load", failing_load)

    @dlt.resource(name="rows", primary_key="id")
    def rows() -> Iterator[dict[str, Any]]:
        yield {"id": 1}

    with pytest.raises(RuntimeError, match="the load failed"):
        run._extract_check_load("probe", run.make_pipeline("probe"), rows())
    assert gc.isenabled()
