"""The drift check on a real dlt pipeline (no provider): a value that no longer fits its column fails the load with
a message naming table, column and type, and nothing of it is written; a new field is kept and reported."""

from __future__ import annotations

from pathlib import Path

import dlt
import duckdb
import pytest

from pipelines.common.errors import SchemaDriftError
from pipelines.common.storage import published_raw_path, raw_db_path
from pipelines.run import _extract_check_load, make_pipeline


def _load(rows: list[dict[str, object]]) -> list[str]:
    source = dlt.resource(rows, name="items", primary_key="id", write_disposition="merge")
    _, _, added = _extract_check_load("acme", make_pipeline("acme"), source)
    return added


def _rows() -> list[tuple[object, ...]]:
    with duckdb.connect(str(raw_db_path("acme")), read_only=True) as con:
        return con.execute("select id, amount from raw_acme.items order by id").fetchall()


def test_a_value_of_another_type_fails_the_load_and_writes_nothing(warehouse: Path) -> None:
    assert _load([{"id": 1, "amount": 500}]) == []
    published = published_raw_path("acme").read_bytes()
    with pytest.raises(SchemaDriftError) as failure:
        _load([{"id": 1, "amount": 700}, {"id": 2, "amount": "five hundred"}])
    message = str(failure.value)
    assert message.startswith("acme: schema drift, nothing of this load was written: table items, column amount: ")
    assert "a text (str) arrived where the column holds bigint values (variant column amount__v_text)" in message
    assert "five hundred" not in message  # types, never values
    assert _rows() == [(1, 500)]  # not even the row that fitted
    assert published_raw_path("acme").read_bytes() == published


def test_an_object_where_a_number_was_fails_and_a_new_field_is_kept(warehouse: Path) -> None:
    _load([{"id": 1, "amount": 500}])
    with pytest.raises(SchemaDriftError, match=r"column amount: an object arrived where the column holds bigint"):
        _load([{"id": 2, "amount": {"value": 700, "currency": "usd"}}])
    assert _load([{"id": 2, "amount": 700, "note": "gift"}]) == ["items.note (text)"]
    assert _rows() == [(1, 500), (2, 700)]
