"""Run a Pandera (polars) contract and turn the outcome into a report a person can act on.

``dagster-pandera`` only bridges pandas DataFrames upstream; this is the small polars
bridge: lazy validation (every failure, not just the first), failing columns, and up to
20 example failure cases, with a one-line message naming the table, partition and column.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
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
    reason: str | None = None  # the partition could not be produced at all (unreadable file, missing input)

    @classmethod
    def withheld(cls, subject: str, reason: str) -> ContractReport:
        return cls(subject=subject, rows=0, failure_count=1, reason=reason)

    @property
    def passed(self) -> bool:
        return self.failure_count == 0

    @property
    def message(self) -> str:
        if self.passed:
            return f"{self.subject}: {self.rows} rows passed the contract"
        if self.reason is not None:
            return f"{self.subject}: not produced: {self.reason}"
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


def _readable_cases(cases: pl.DataFrame, schema: pa.DataFrameSchema) -> pl.DataFrame:
    """Frame-level checks (uniqueness) name the schema and the whole row; a person needs the key."""
    key_cols = [c for c in (schema.unique or []) if c != PARTITION_COLUMN]
    duplicate = pl.col("check") == "multiple_fields_uniqueness"
    return cases.with_columns(
        pl.when(duplicate).then(pl.lit(",".join(key_cols))).otherwise(pl.col("column")).alias("column"),
        pl.when(duplicate)
        .then(pl.col("failure_case").map_elements(lambda row: _key_of(row, key_cols), return_dtype=pl.String))
        .otherwise(pl.col("failure_case"))
        .alias("failure_case"),
    ).select("column", "check", "failure_case", pl.col("index").cast(pl.Int64))


def _report(subject: str, rows: int, cases: pl.DataFrame) -> ContractReport:
    if cases.is_empty():
        return ContractReport(subject=subject, rows=rows)
    columns = sorted(c for c in cases["column"].unique().to_list() if c is not None)
    return ContractReport(
        subject=subject,
        rows=rows,
        failing_columns=columns,
        failure_count=cases.height,
        examples=cases.head(MAX_EXAMPLES),
    )


def check_contract(frame: pl.DataFrame, schema: pa.DataFrameSchema, subject: str) -> ContractReport:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return _report(subject, frame.height, _readable_cases(exc.failure_cases, schema))
    return ContractReport(subject=subject, rows=frame.height)


PARTITION_COLUMN = "__partition"


def _in_partition_check(row_day: pl.Expr) -> pa.Check:
    return pa.Check(
        lambda data: data.lazyframe.select(row_day == pl.col(PARTITION_COLUMN)),
        name="in_partition",
        error="row dated outside its partition",
    )


def check_partitions(
    tables: Mapping[str, pl.DataFrame],
    schema: pa.DataFrameSchema,
    subject_of: Callable[[str], str],
    day_column: str | None = None,
    row_day: pl.Expr | None = None,
) -> dict[str, ContractReport]:
    """Validate many partitions of one table in one Pandera call per schema shape; one report per partition.

    Pandera's fixed cost per call (about 50 ms) would otherwise dominate a year of small days. The
    partitions are stacked with a partition column; uniqueness holds within a partition, and each
    row's day (``row_day``, reported on ``day_column``) must equal its partition's. Failures are
    attributed back to their partition by row index.
    """
    reports: dict[str, ContractReport] = {}
    by_shape: dict[tuple, list[str]] = {}
    for partition, frame in tables.items():
        by_shape.setdefault(tuple(frame.schema.items()), []).append(partition)
    stacked_schema = schema.add_columns({PARTITION_COLUMN: pa.Column(pl.Date())})
    if day_column is not None and row_day is not None:
        checks = [*schema.columns[day_column].checks, _in_partition_check(row_day)]
        stacked_schema = stacked_schema.update_column(day_column, checks=checks)
    if schema.unique:
        stacked_schema.unique = [*schema.unique, PARTITION_COLUMN]
    for partitions in by_shape.values():
        frames = [tables[p] for p in partitions]
        stacked = pl.concat(
            [
                f.with_columns(pl.lit(date.fromisoformat(p)).alias(PARTITION_COLUMN))
                for p, f in zip(partitions, frames, strict=True)
            ]
        )
        starts = np.cumsum([0, *[f.height for f in frames]])
        try:
            stacked_schema.validate(stacked, lazy=True)
        except pa.errors.SchemaErrors as exc:
            cases = _readable_cases(exc.failure_cases, schema)
            row = cases["index"]
            # Row failures belong to one partition; frame-level ones (a column's type, say) to every one.
            owner = pl.Series(np.searchsorted(starts, row.fill_null(-1).to_numpy(), side="right") - 1)
            cases = cases.with_columns(
                owner.alias("__owner"), (row - pl.Series(starts[owner.clip(0).to_numpy()])).alias("index")
            )
            for i, partition in enumerate(partitions):
                own = cases.filter((pl.col("__owner") == i) | pl.col("index").is_null()).drop("__owner")
                reports[partition] = _report(subject_of(partition), frames[i].height, own)
            continue
        for partition, frame in zip(partitions, frames, strict=True):
            reports[partition] = ContractReport(subject=subject_of(partition), rows=frame.height)
    return reports
