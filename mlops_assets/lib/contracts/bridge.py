"""Run a Pandera (polars) contract and turn the outcome into a report a person can act on.

``dagster-pandera`` only bridges pandas DataFrames upstream; this is the small polars
bridge: lazy validation (every failure, not just the first), failing columns, and up to
20 example failure cases, with a one-line message naming the table, partition and column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl

MAX_EXAMPLES = 20


@dataclass(frozen=True)
class ContractReport:
    subject: str  # e.g. "raw/flights partition 2013-01-05 (landing/flights/2013-01-05.parquet)"
    rows: int
    failing_columns: list[str] = field(default_factory=list)
    failure_count: int = 0
    examples: pl.DataFrame | None = None

    @property
    def passed(self) -> bool:
        return self.failure_count == 0

    @property
    def message(self) -> str:
        if self.passed:
            return f"{self.subject}: {self.rows} rows passed the contract"
        assert self.examples is not None
        by_check = (
            self.examples.group_by("column", "check", maintain_order=True)
            .agg(pl.col("failure_case").head(3))
            .iter_rows()
        )
        details = "; ".join(f"column {col!r} failed {chk} (e.g. {cases})" for col, chk, cases in by_check)
        return f"{self.subject}: {self.failure_count} contract failure(s): {details}"


def _key_of(row_json: str, key: list[str]) -> str:
    try:
        row = json.loads(row_json)
    except (TypeError, ValueError):
        return row_json
    return json.dumps({k: row.get(k) for k in key})


def check_contract(frame: pl.DataFrame, schema: pa.DataFrameSchema, subject: str) -> ContractReport:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        unique_key = ",".join(schema.unique or [])
        # Frame-level checks (uniqueness, strictness) report the schema name as the column.
        cases = cases.with_columns(
            pl.when(pl.col("check") == "multiple_fields_uniqueness")
            .then(pl.lit(unique_key))
            .otherwise(pl.col("column"))
            .alias("column")
        )
        # A duplicate is reported as the whole row; its key is what a person needs to see.
        key_cols = list(schema.unique or [])
        cases = cases.with_columns(
            pl.when(pl.col("check") == "multiple_fields_uniqueness")
            .then(pl.col("failure_case").map_elements(lambda row: _key_of(row, key_cols), return_dtype=pl.String))
            .otherwise(pl.col("failure_case"))
            .alias("failure_case")
        )
        columns = sorted(c for c in cases["column"].unique().to_list() if c is not None)
        return ContractReport(
            subject=subject,
            rows=frame.height,
            failing_columns=columns,
            failure_count=cases.height,
            examples=cases.select("column", "check", "failure_case", "index").head(MAX_EXAMPLES),
        )
    return ContractReport(subject=subject, rows=frame.height)
