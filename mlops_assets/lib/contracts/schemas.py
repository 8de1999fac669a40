"""Pandera (polars) contracts of the raw tables.

Every measured column has a physical limit with its unit (``MEASURES``): a value beyond what
the quantity can physically be, or a unit change that takes it there (pressure in inHg, air
time in hours, a delay in seconds), is refused. Relations physics fixes between columns
(a dew point never above the air temperature, a gust never below the wind speed, a departure
delay equal to actual minus scheduled time, a subsonic ground speed) are refused too. Codes a
daily table uses must exist in their dimension on main (``references``), where the real data
allows it (``lib/tables.Reference``). A unit change that stays within physics (temperature in
Celsius) is left to the non-blocking ``anomalies`` check (``lib/anomalies``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from mlops_assets.lib.contracts.bridge import PARTITION_COLUMN
from mlops_assets.lib.tables import (
    AIRLINES,
    AIRPORTS,
    FLIGHTS,
    NYC_AIRPORTS,
    PLANES,
    WEATHER,
    SourceTable,
)

IATA_CODE = r"^[A-Z0-9]{3}$"
TAILNUM = r"^[A-Z0-9]{2,7}$"


@dataclass(frozen=True)
class Measure:
    """A measured column: its unit and the physical range of the quantity (``why``: where from)."""

    unit: str
    low: float
    high: float
    why: str
    clock: bool = False  # a local clock time HHMM: minutes below 60 too
    circular: bool = False  # a direction: no level to shift


_HHMM = "local clock time HHMM (2400 = midnight at the end of the day)"
_DELAY = "minutes (negative: early)"
MEASURES: dict[str, dict[str, Measure]] = {
    "flights": {
        "dep_time": Measure(_HHMM, 0, 2400, "a clock", clock=True),
        "sched_dep_time": Measure(_HHMM, 0, 2359, "a clock", clock=True),
        "arr_time": Measure(_HHMM, 0, 2400, "a clock", clock=True),
        "sched_arr_time": Measure(_HHMM, 0, 2359, "a clock", clock=True),
        "dep_delay": Measure(_DELAY, -120, 1800, "2 h early to 30 h late; past that a flight is rescheduled"),
        "arr_delay": Measure(_DELAY, -180, 1800, "3 h early to 30 h late"),
        "air_time": Measure("minutes", 5, 1200, "5 min hop to 20 h, the longest nonstop airliner flight"),
        "distance": Measure(
            "statute miles", 10, 12_451, "half the Earth's circumference: the longest great circle"
        ),
    },
    "weather": {
        "temp": Measure(
            "degrees Fahrenheit", -129, 135, "Earth's records: -128.6 F (Vostok), 134 F (Death Valley)"
        ),
        "dewp": Measure(
            "degrees Fahrenheit", -129, 95, "never above the air temperature; 95 F is Earth's record"
        ),
        "humid": Measure("percent relative humidity", 0, 100, "relative humidity"),
        "wind_dir": Measure("degrees from true north", 0, 360, "a compass", circular=True),
        "wind_speed": Measure("mph", 0, 254, "Earth's record surface gust, 253 mph (Barrow Island, 1996)"),
        "wind_gust": Measure("mph", 0, 254, "Earth's record surface gust, 253 mph (Barrow Island, 1996)"),
        "precip": Measure("inches in the hour", 0, 13, "Earth's record hourly rainfall, 12 in (Holt, 1947)"),
        "pressure": Measure(
            "millibars (hPa), sea level", 870, 1085, "Earth's records: 870 (Tip), 1084.8 (Siberia)"
        ),
        "visib": Measure("statute miles", 0, 10, "ASOS reports visibility up to 10 miles"),
    },
    "airports": {
        "lat": Measure("degrees north", -90, 90, "a latitude"),
        "lon": Measure("degrees east", -180, 180, "a longitude"),
        "alt": Measure("feet above sea level", -1_412, 29_032, "Dead Sea shore to Everest"),
        "tz": Measure("hours from UTC", -12, 14, "time zones"),
    },
    "planes": {
        "year": Measure(
            "year of manufacture", 1903, 2014, "the first powered flight to the year after the data"
        ),
        "engines": Measure("engines", 1, 8, "the most on any production aircraft (B-52)"),
        "seats": Measure("seats", 1, 853, "the largest airliner's certified maximum (A380)"),
        "speed": Measure("mph", 1, 2_200, "the fastest crewed jet (SR-71)"),
    },
    "airlines": {},
}


def _physical(measure: Measure) -> list[pa.Check]:
    checks = [
        pa.Check.in_range(
            measure.low, measure.high, error=f"physical limit {measure.low}..{measure.high} {measure.unit}"
        )
    ]
    if measure.clock:
        checks.append(
            pa.Check(lambda data: data.lazyframe.select(pl.col(data.key) % 100 < 60), name="minutes_below_60")
        )
    return checks


def _relation(name: str, holds: pl.Expr) -> pa.Check:
    """A relation physics fixes between columns of a row (a null on either side passes)."""
    return pa.Check(lambda data: data.lazyframe.select(holds.fill_null(True)), name=name)


def _minutes(hhmm: str) -> pl.Expr:
    return (pl.col(hhmm) // 100) * 60 + pl.col(hhmm) % 100


# Ground speed of a subsonic airliner, jet stream included; 2013's range is 77-703 mph.
GROUND_SPEED_MPH = (50, 800)
RELATIONS: dict[str, dict[str, pa.Check]] = {
    "flights": {
        "dep_delay": _relation(
            "equals_dep_time_minus_sched_dep_time",
            (_minutes("dep_time") - _minutes("sched_dep_time") - pl.col("dep_delay")) % 1440 == 0,
        ),
        "air_time": _relation(
            f"ground_speed_{GROUND_SPEED_MPH[0]}_to_{GROUND_SPEED_MPH[1]}_mph",
            (pl.col("distance") / pl.col("air_time") * 60).is_between(*GROUND_SPEED_MPH),
        ),
    },
    "weather": {
        "dewp": _relation("not_above_temp", pl.col("dewp") <= pl.col("temp")),
        "wind_gust": _relation("not_below_wind_speed", pl.col("wind_gust") >= pl.col("wind_speed")),
    },
}


def _references(table: SourceTable, codes: Mapping[str, frozenset[str]]) -> dict[str, pa.Check]:
    """Checks that each code a refusing reference names exists in its dimension (``codes``: by
    ``dimension.key``; a dimension not yet on main is absent and its codes are not judged)."""
    checks = {}
    for ref in table.references:
        known = codes.get(f"{ref.dimension}.{ref.key}")
        if ref.refuse and known is not None:
            values = pl.Series(sorted(known), dtype=pl.String)
            checks[ref.column] = pa.Check(
                lambda data, values=values: data.lazyframe.select(pl.col(data.key).is_in(values.implode())),
                name=f"exists_in_raw/{ref.dimension}.{ref.key}",
            )
    return checks


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


def contract_for(table: SourceTable, codes: Mapping[str, frozenset[str]] | None = None) -> pa.DataFrameSchema:
    """The contract of ``table``; the check pins each row of a daily table to its partition (``row_day``).

    ``codes``: the dimension keys on main (``"airports.faa"`` -> codes) the table's references use."""
    day_checks = [pa.Check.in_range(1, 31)]
    columns: dict[str, pa.Column]
    if table is FLIGHTS:
        columns = {
            "year": _col(pl.Int32(), pa.Check.equal_to(2013)),
            "month": _col(pl.Int32(), pa.Check.in_range(1, 12)),
            "day": _col(pl.Int32(), *day_checks),
            "dep_time": _col(pl.Int32(), nullable=True),
            "sched_dep_time": _col(pl.Int32()),
            "dep_delay": _col(pl.Float64(), nullable=True),
            "arr_time": _col(pl.Int32(), nullable=True),
            "sched_arr_time": _col(pl.Int32()),
            "arr_delay": _col(pl.Float64(), _labels_present(), nullable=True),
            "carrier": _col(pl.String(), pa.Check.str_matches(r"^[A-Z0-9]{2}$")),
            "flight": _col(pl.Int32(), pa.Check.in_range(1, 9999)),
            "tailnum": _col(pl.String(), pa.Check.str_matches(TAILNUM), nullable=True),
            "origin": _col(pl.String(), pa.Check.isin(list(NYC_AIRPORTS))),
            "dest": _col(pl.String(), pa.Check.str_matches(IATA_CODE)),
            "air_time": _col(pl.Float64(), nullable=True),
            "distance": _col(pl.Float64()),
            "hour": _col(pl.Int32(), pa.Check.in_range(0, 23)),
            "minute": _col(pl.Int32(), pa.Check.in_range(0, 59)),
            "time_hour": _col(pl.Datetime("us", "UTC"), _time_hour_matches_local_hour()),
        }
    elif table is WEATHER:
        columns = {
            "origin": _col(pl.String(), pa.Check.isin(list(NYC_AIRPORTS))),
            "year": _col(pl.Int32(), pa.Check.equal_to(2013)),
            "month": _col(pl.Int32(), pa.Check.in_range(1, 12)),
            "day": _col(pl.Int32(), *day_checks),
            "hour": _col(pl.Int32(), pa.Check.in_range(0, 23)),
            "temp": _col(pl.Float64(), nullable=True),
            "dewp": _col(pl.Float64(), nullable=True),
            "humid": _col(pl.Float64(), nullable=True),
            "wind_dir": _col(pl.Float64(), nullable=True),
            "wind_speed": _col(pl.Float64(), nullable=True),
            "wind_gust": _col(pl.Float64(), nullable=True),
            "precip": _col(pl.Float64()),
            "pressure": _col(pl.Float64(), nullable=True),
            "visib": _col(pl.Float64()),
            "time_hour": _col(pl.Datetime("us", "UTC"), _time_hour_matches_local_hour()),
        }
    elif table is AIRPORTS:
        columns = {
            "faa": _col(pl.String(), pa.Check.str_matches(IATA_CODE)),
            "name": _col(pl.String()),
            "lat": _col(pl.Float64()),
            "lon": _col(pl.Float64()),
            "alt": _col(pl.Int32()),
            "tz": _col(pl.Int32()),
            "dst": _col(pl.String(), pa.Check.isin(["A", "U", "N"])),
            "tzone": _col(pl.String(), nullable=True),
        }
    elif table is PLANES:
        columns = {
            "tailnum": _col(pl.String(), pa.Check.str_matches(TAILNUM)),
            "year": _col(pl.Int32(), nullable=True),
            "type": _col(pl.String()),
            "manufacturer": _col(pl.String()),
            "model": _col(pl.String()),
            "engines": _col(pl.Int32()),
            "seats": _col(pl.Int32()),
            "speed": _col(pl.Float64(), nullable=True),
            "engine": _col(pl.String()),
        }
    elif table is AIRLINES:
        columns = {
            "carrier": _col(pl.String(), pa.Check.str_matches(r"^[A-Z0-9]{2}$")),
            "name": _col(pl.String()),
        }
    else:  # pragma: no cover - every source table has a contract
        raise KeyError(f"no contract for table {table.name!r}")
    # The general rules, declared once for every table: physical limits, relations, references.
    extra: dict[str, list[pa.Check]] = {}
    for column, measure in MEASURES[table.name].items():
        extra.setdefault(column, []).extend(_physical(measure))
    for column, check in RELATIONS.get(table.name, {}).items():
        extra.setdefault(column, []).append(check)
    for column, check in _references(table, codes or {}).items():
        extra.setdefault(column, []).append(check)
    for column, checks in extra.items():
        columns[column] = _col(
            columns[column].dtype.type, *columns[column].checks, *checks, nullable=columns[column].nullable
        )
    return pa.DataFrameSchema(columns, unique=list(table.key), strict=True, name=f"raw/{table.name}")
