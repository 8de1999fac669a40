"""polars on first use, and columns declared by their types' names (``lib/lazy_polars.py``)."""

from __future__ import annotations

import subprocess
import sys

import polars
import pytest

from mlops_assets.lib.lazy_polars import UTC_DATETIME, Columns, pl, polars_type
from mlops_assets.lib.tables import FLIGHTS


def test_polars_is_imported_when_a_name_is_first_read_and_not_before():
    probe = """
import sys
from mlops_assets.lib.lazy_polars import Columns, pl
columns = Columns({"a": "Int32", "b": "String"})
before = "polars" in sys.modules or "polars.dataframe" in sys.modules
named = ("a" in columns, list(columns), columns.type_names, len(columns))
still_before = "polars.dataframe" in sys.modules
frame = pl.DataFrame({"a": [1]}, schema={"a": pl.Int32})
import polars
print(before, named, still_before, type(frame) is polars.DataFrame, pl.col is polars.col, dict(columns))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == (
        "False (True, ['a', 'b'], {'a': 'Int32', 'b': 'String'}, 2) False True True {'a': Int32, 'b': String}"
    )


def test_columns_are_polars_types_in_their_declared_order():
    columns = Columns({"time_hour": UTC_DATETIME, "n": "Int64", "ok": "Boolean", "day": "Date"})
    assert list(columns.items()) == [
        ("time_hour", polars.Datetime("us", "UTC")),
        ("n", polars.Int64()),
        ("ok", polars.Boolean()),
        ("day", polars.Date()),
    ]
    assert pl.DataFrame(schema=columns).schema == polars.Schema(dict(columns))
    assert "time_hour" in columns and "missing" not in columns
    with pytest.raises(KeyError):
        columns["missing"]


def test_a_source_tables_types_are_the_ones_it_declares():
    assert FLIGHTS.columns["time_hour"] == polars.Datetime("us", "UTC")
    assert FLIGHTS.columns.type_names["time_hour"] == UTC_DATETIME
    assert {str(t) for t in FLIGHTS.columns.values()} == {
        "Int32",
        "Float64",
        "String",
        "Datetime(time_unit='us', time_zone='UTC')",
    }


@pytest.mark.parametrize("name", ["col", "Int", "DataFrame", "datetime"])
def test_a_name_that_is_not_a_polars_type_is_refused_by_name(name):
    with pytest.raises(ValueError, match=f"'{name}' is not the name of a polars type"):
        polars_type(name)
