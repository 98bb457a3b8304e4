"""`walk_adaptive` against an in-memory list: the first page does not wait for the lower bound, and a bound given
late lists exactly the objects a bound given up front does."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pipelines.stripe import helpers

OBJECTS = [{"id": f"ch_{i:05d}", "created": 1_000_000 + i * 7} for i in range(2_000)]
"""Newest last; Stripe lists newest first."""


def fake_get(requested: list[dict[str, Any]], objects: list[dict[str, Any]] = OBJECTS) -> Any:
    lock = threading.Lock()

    def get(_client: Any, _url: str, params: dict[str, Any]) -> dict[str, Any]:
        with lock:
            requested.append(params)
        window = params.get("created", {})
        rows = [o for o in reversed(objects) if o["created"] >= window.get("gte", 0) and o["created"] < window.get("lt", 1 << 62)]
        if "starting_after" in params:
            rows = rows[[o["id"] for o in rows].index(params["starting_after"]) + 1 :]
        return {"data": rows[: params["limit"]], "has_more": len(rows) > params["limit"]}

    return get


def walk(monkeypatch: pytest.MonkeyPatch, created: dict[str, int], floor: Any = None) -> tuple[list[str], list[dict[str, Any]]]:
    requested: list[dict[str, Any]] = []
    monkeypatch.setattr(helpers, "get", fake_get(requested))
    ids = [o["id"] for page in helpers.walk_adaptive(None, "charges", {}, created, 8, floor=floor) for o in page]  # type: ignore[arg-type]
    return ids, requested


def test_the_first_page_goes_out_before_the_lower_bound_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    first_page_sent = threading.Event()
    asked_before_first_page: list[bool] = []
    real = fake_get([])

    def get(client: Any, url: str, params: dict[str, Any]) -> dict[str, Any]:
        first_page_sent.set()
        return real(client, url, params)

    def floor() -> int:
        # Waits (bounded, so a regression fails rather than hangs) for the first page to have been requested.
        asked_before_first_page.append(not first_page_sent.wait(timeout=30))
        return OBJECTS[0]["created"]

    monkeypatch.setattr(helpers, "get", get)
    ids = [o["id"] for page in helpers.walk_adaptive(None, "charges", {}, {}, 8, floor=floor) for o in page]  # type: ignore[arg-type]
    assert asked_before_first_page == [False]  # asked once, after the first page had gone out
    assert sorted(ids) == sorted(o["id"] for o in OBJECTS)


def test_a_late_lower_bound_lists_the_same_objects_once(monkeypatch: pytest.MonkeyPatch) -> None:
    bound = OBJECTS[0]["created"]
    upfront, upfront_requests = walk(monkeypatch, {"gte": bound})
    late, late_requests = walk(monkeypatch, {}, floor=lambda: bound)
    assert len(late) == len(set(late)) == len(OBJECTS)  # nothing twice, nothing missed
    assert set(late) == set(upfront)
    assert "created" not in late_requests[0]  # the newest page needs no bound
    assert all(r.get("created", {}).get("gte", bound) >= bound for r in late_requests)
    assert len(late_requests) <= len(upfront_requests) + 1  # split as well as with the bound up front


def test_a_small_list_never_waits_for_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    def floor() -> int:
        raise AssertionError("a list that fits one page does not need the bound")

    small = OBJECTS[-50:]
    monkeypatch.setattr(helpers, "get", fake_get([], small))
    ids = [o["id"] for page in helpers.walk_adaptive(None, "coupons", {}, {}, 8, floor=floor) for o in page]  # type: ignore[arg-type]
    assert sorted(ids) == sorted(o["id"] for o in small)
