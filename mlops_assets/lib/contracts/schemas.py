"""Pandera (polars) contracts of the raw tables.

Ranges are wide enough for everything real in 2013 (cancelled flights have null
times; one weather row reports a 1048 mph wind, a known sensor glitch we keep) and
narrow enough to catch broken deliveries (negative distances, unknown codes,
rows dated outside their partition, duplicate keys).
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from mlops_assets.lib.contracts.bridge import PARTITION_COLUMN
from mlops_assets.lib.tables import AIRLINES, AIRPORTS, FLIGHTS, PLANES, WEATHER, SourceTable

NYC_AIRPORTS = ["EWR", "JFK", "LGA"]
CARRIERS = ["9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA", "US", "VX", "WN", "YV"]
IATA_CODE = r"^[A-Z0-9]{3}$"


def _col(dtype: pl.DataType, *checks: pa.Check, nullable: bool = False) -> pa.Column:
    return pa.Column(dtype, checks=list(checks), nullable=nullable)


def row_day(table: SourceTable) -> tuple[str, pl.Expr]:
    """Each row of a daily table is dated by (year, month, day): reported on ``day``."""
    return "day", pl.date(pl.col("year"), pl.col("month"), pl.col("day"))


def _per_day(expr: pl.Expr, names: list[str]) -> pl.Expr:
    """``expr`` (an aggregate) over each partition of stacked days, or over the whole frame."""
    return expr.over(PARTITION_COLUMN) if PARTITION_COLUMN in names else expr


def _labels_present() -> pa.Check:
    """A day whose flights arrived (``arr_time``) but where no flight has an ``arr_delay`` lost its
    labels upstream: published, it would train and judge models on nothing. Fails the arrived rows."""

    def check(data) -> pl.LazyFrame:
        names = data.lazyframe.collect_schema().names()
        labels_gone = _per_day(pl.col("arr_delay").is_null().all(), names)
        return data.lazyframe.select(~(labels_gone & pl.col("arr_time").is_not_null()))

    return pa.Check(check, name="not_null_on_every_row_of_a_day_whose_flights_arrived")


def _time_hour_matches_local_hour() -> pa.Check:
    """``time_hour`` is the scheduled hour in UTC: in New York time it must be the row's
    year/month/day and hour (the weather join matches on it; a wrong one joins the wrong hour)."""
    local = pl.col("time_hour").dt.convert_time_zone("America/New_York")
    matches = (local.dt.date() == pl.date("year", "month", "day")) & (local.dt.hour() == pl.col("hour"))
    return pa.Check(
        lambda data: data.lazyframe.select(matches), name="same_day_and_hour_as_year_month_day_hour"
    )


def contract_for(table: SourceTable) -> pa.DataFrameSchema:
    """The contract of ``table``; the check pins each row of a daily table to its partition (``row_day``)."""
    day_checks = [pa.Check.in_range(1, 31)]
    columns: dict[str, pa.Column]
    if table is FLIGHTS:
        columns = {
            "year": _col(pl.Int32(), pa.Check.equal_to(2013)),
            "month": _col(pl.Int32(), pa.Check.in_range(1, 12)),
            "day": _col(pl.Int32(), *day_checks),
            "dep_time": _col(pl.Int32(), pa.Check.in_range(1, 2400), nullable=True),
            "sched_dep_time": _col(pl.Int32(), pa.Check.in_range(0, 2359)),
            "dep_delay": _col(pl.Float64(), pa.Check.in_range(-120, 1800), nullable=True),
            "arr_time": _col(pl.Int32(), pa.Check.in_range(1, 2400), nullable=True),
            "sched_arr_time": _col(pl.Int32(), pa.Check.in_range(0, 2359)),
            "arr_delay": _col(pl.Float64(), pa.Check.in_range(-180, 1800), _labels_present(), nullable=True),
            "carrier": _col(pl.String(), pa.Check.isin(CARRIERS)),
            "flight": _col(pl.Int32(), pa.Check.in_range(1, 9999)),
            "tailnum": _col(pl.String(), pa.Check.str_matches(r"^[A-Z0-9]{2,7}$"), nullable=True),
            "origin": _col(pl.String(), pa.Check.isin(NYC_AIRPORTS)),
            "dest": _col(pl.String(), pa.Check.str_matches(IATA_CODE)),
            "air_time": _col(pl.Float64(), pa.Check.in_range(1, 800), nullable=True),
            "distance": _col(pl.Float64(), pa.Check.gt(0), pa.Check.le(6000)),
            "hour": _col(pl.Int32(), pa.Check.in_range(0, 23)),
            "minute": _col(pl.Int32(), pa.Check.in_range(0, 59)),
            "time_hour": _col(pl.Datetime("us", "UTC"), _time_hour_matches_local_hour()),
        }
    elif table is WEATHER:
        columns = {
            "origin": _col(pl.String(), pa.Check.isin(NYC_AIRPORTS)),
            "year": _col(pl.Int32(), pa.Check.equal_to(2013)),
            "month": _col(pl.Int32(), pa.Check.in_range(1, 12)),
            "day": _col(pl.Int32(), *day_checks),
            "hour": _col(pl.Int32(), pa.Check.in_range(0, 23)),
            "temp": _col(pl.Float64(), pa.Check.in_range(-40, 130), nullable=True),
            "dewp": _col(pl.Float64(), pa.Check.in_range(-60, 100), nullable=True),
            "humid": _col(pl.Float64(), pa.Check.in_range(0, 100), nullable=True),
            "wind_dir": _col(pl.Float64(), pa.Check.in_range(0, 360), nullable=True),
            "wind_speed": _col(pl.Float64(), pa.Check.in_range(0, 1100), nullable=True),
            "wind_gust": _col(pl.Float64(), pa.Check.in_range(0, 200), nullable=True),
            "precip": _col(pl.Float64(), pa.Check.in_range(0, 20)),
            "pressure": _col(pl.Float64(), pa.Check.in_range(900, 1100), nullable=True),
            "visib": _col(pl.Float64(), pa.Check.in_range(0, 100)),
            "time_hour": _col(pl.Datetime("us", "UTC"), _time_hour_matches_local_hour()),
        }
    elif table is AIRPORTS:
        columns = {
            "faa": _col(pl.String(), pa.Check.str_matches(IATA_CODE)),
            "name": _col(pl.String()),
            "lat": _col(pl.Float64(), pa.Check.in_range(-90, 90)),
            "lon": _col(pl.Float64(), pa.Check.in_range(-180, 180)),
            "alt": _col(pl.Int32(), pa.Check.in_range(-1500, 15000)),
            "tz": _col(pl.Int32(), pa.Check.in_range(-12, 14)),
            "dst": _col(pl.String(), pa.Check.isin(["A", "U", "N"])),
            "tzone": _col(pl.String(), nullable=True),
        }
    elif table is PLANES:
        columns = {
            "tailnum": _col(pl.String(), pa.Check.str_matches(r"^[A-Z0-9]{2,7}$")),
            "year": _col(pl.Int32(), pa.Check.in_range(1940, 2014), nullable=True),
            "type": _col(pl.String()),
            "manufacturer": _col(pl.String()),
            "model": _col(pl.String()),
            "engines": _col(pl.Int32(), pa.Check.in_range(1, 4)),
            "seats": _col(pl.Int32(), pa.Check.in_range(1, 900)),
            "speed": _col(pl.Float64(), pa.Check.gt(0), nullable=True),
            "engine": _col(pl.String()),
        }
    elif table is AIRLINES:
        columns = {
            "carrier": _col(pl.String(), pa.Check.str_matches(r"^[A-Z0-9]{2}$")),
            "name": _col(pl.String()),
        }
    else:  # pragma: no cover - every source table has a contract
        raise KeyError(f"no contract for table {table.name!r}")
    return pa.DataFrameSchema(columns, unique=list(table.key), strict=True, name=f"raw/{table.name}")
