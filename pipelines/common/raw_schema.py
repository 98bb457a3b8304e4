"""How every provider's raw tables are shaped and guarded, in one place: nesting depth, schema contract, drift.

**Nesting.** Every source is normalised with `max_table_nesting = RAW_TABLE_NESTING` (3), set here for all of them
(`pipelines.run.build_source`), not per source. dlt counts both kinds of depth against it: each level of nested
object (flattened into `parent__child` columns) and each nested list (a child table joined on `_dlt_parent_id`).
Three is the deepest path a staging model reads: a Stripe invoice's `lines.data[]` (a child table) and, on each
line, `pricing.price_details.price`. Deeper structures land as JSON columns on their parent row: kept, queryable
with DuckDB's JSON functions, but no table per stray list (Stripe objects nest lists many levels down, and every
table nobody reads is one more place where drift could hide). A column a model reads as JSON whatever its depth
(Klaviyo's `event_properties`) is declared `json` on its resource.

**Contract.** dlt's schema contract `{"tables": "evolve", "columns": "evolve", "data_type": "freeze"}`: new tables
and columns are kept (raw tables evolve freely; dbt staging selects the columns it knows), but a value that no
longer fits its column's type fails the run instead of landing in a `<column>__v_<type>` variant column.

**Drift dlt does not see.** A scalar that turns into an object is flattened into *new* columns (`amount` stays,
empty, and `amount__unexpected` appears), which a columns-evolve contract allows; a scalar turned list becomes a new
child table, and an object turned scalar a new column beside the old `x__y` ones. `find_drift` compares the
normalised schema with the one committed to the raw file and reports those; `pipelines.run` then drops the package
(nothing of it is loaded) and raises `SchemaDriftError` naming provider, table, column and the type that arrived.
New columns that are not drift are reported as `new_columns`, logged, and loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.common.errors import SchemaDriftError

RAW_TABLE_NESTING = 3
"""Levels of nested objects/lists below a root row that get their own columns/tables; deeper ones are JSON."""
SCHEMA_CONTRACT = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}

Columns = Mapping[str, Mapping[str, Any]]
"""Table -> {column: dlt column schema}, as in `dlt.Schema.tables[t]["columns"]`."""


@dataclass(frozen=True)
class Drift:
    table: str
    column: str
    expected: str
    """What the committed column holds: a dlt data type (`bigint`, `text`, ...) or `object` / `array`."""
    arrived: str
    """What the API sent instead: `object`, `array`, or the value's type (`text`, `double`, ...)."""
    evidence: str
    """The column or table dlt would have added (names only, never values)."""

    def describe(self) -> str:
        return f"table {self.table}, column {self.column}: {_article(self.arrived)} arrived where the column holds {self.expected} values ({self.evidence})"


def _article(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def snapshot(tables: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Table -> column -> schema of the *complete* columns (with a data type) of a dlt schema's tables."""
    return {
        name: {c: dict(col) for c, col in table.get("columns", {}).items() if col.get("data_type")}
        for name, table in tables.items()
        if not name.startswith("_dlt")
    }


def find_drift(before: Mapping[str, Columns], after: Mapping[str, Columns]) -> list[Drift]:
    """Type changes between the committed schema (`before`) and the schema after normalising a new load (`after`)."""
    found: list[Drift] = []
    for table, columns in after.items():
        old = before.get(table)
        if old is None:
            found += _list_replacing_scalar(table, before)
            continue
        for column in columns:
            if column in old or column.startswith("_dlt"):
                continue
            base = _scalar_prefix(column, old)
            if base is not None:  # a scalar became an object: dlt flattened it into base__...
                found.append(Drift(table, base, old[base]["data_type"], "object", f"new column {column}"))
            elif any(c.startswith(f"{column}__") for c in old):  # an object became a scalar
                found.append(Drift(table, column, "object", columns[column].get("data_type", "?"), f"new column {column}"))
            elif f"{table}__{column}" in before:  # a list became a scalar
                found.append(Drift(table, column, "array", columns[column].get("data_type", "?"), f"new column {column}"))
    return _unique(found)


def _scalar_prefix(column: str, old: Columns) -> str | None:
    """The existing non-JSON column `c` of which `column` (`c__x__y`) is a flattening, if any."""
    parts = column.split("__")
    for cut in range(len(parts) - 1, 0, -1):
        base = "__".join(parts[:cut])
        if base in old and old[base].get("data_type") not in (None, "json"):
            return base
    return None


def _list_replacing_scalar(table: str, before: Mapping[str, Columns]) -> list[Drift]:
    """A new child table `parent__c` where `parent` holds a scalar column `c`: a scalar became a list."""
    parts = table.split("__")
    for cut in range(len(parts) - 1, 0, -1):
        parent, column = "__".join(parts[:cut]), "__".join(parts[cut:])
        old = before.get(parent)
        if old is not None and column in old and old[column].get("data_type") not in (None, "json"):
            return [Drift(parent, column, old[column]["data_type"], "array", f"new table {table}")]
    return []


def new_columns(before: Mapping[str, Columns], after: Mapping[str, Columns]) -> list[str]:
    """`table.column (type)` for each column that appeared in a table that already existed (not drift)."""
    drifted = {(d.table, d.evidence.removeprefix("new column ")) for d in find_drift(before, after)}
    out = []
    for table, columns in after.items():
        old = before.get(table)
        if old is None:
            continue
        for column, schema in columns.items():
            if column not in old and not column.startswith("_dlt") and (table, column) not in drifted:
                out.append(f"{table}.{column} ({schema.get('data_type', '?')})")
    return sorted(out)


def variant_drift(table: str, column: str, data_item: Any, before: Mapping[str, Columns]) -> Drift:
    """The drift behind dlt's frozen-`data_type` violation on variant column `column` (`<base>__v_<type>`)."""
    base, _, kind = column.rpartition("__v_")
    if not base:
        base, kind = column, "?"
    value = data_item.get(column) if hasattr(data_item, "get") else None
    arrived = kind if value is None else f"{kind} ({type(value).__name__})"
    expected = (before.get(table) or {}).get(base, {}).get("data_type", "?")
    return Drift(table, base, expected, arrived, f"variant column {column}")


def _unique(found: list[Drift]) -> list[Drift]:
    seen: set[tuple[str, str]] = set()
    out = []
    for drift in found:
        if (drift.table, drift.column) not in seen:
            seen.add((drift.table, drift.column))
            out.append(drift)
    return out


def drift_error(provider: str, drifts: list[Drift]) -> SchemaDriftError:
    """The run's error for type changes: names provider, tables, columns and types, never a value."""
    listed = "; ".join(d.describe() for d in drifts[:10]) + (f"; and {len(drifts) - 10} more" if len(drifts) > 10 else "")
    return SchemaDriftError(
        f"{provider}: schema drift, nothing of this load was written: {listed}. The API changed the type of a field "
        f"we load; update pipelines/{provider}/ (and the dbt staging model reading it) for the new type, then re-run"
    )
