"""The flight features: what is known before departure, one row per scheduled flight.

Built in polars from the day's raw flights, the origin's weather at the scheduled departure
hour, the aircraft (planes) and the destination airport. Labels (``arr_delay``,
``cancelled``) ride along in their own columns for training and monitoring; no feature is
derived from them or from anything measured after pushback (dep_time, dep_delay, arr_time,
air_time), and ``tests/test_features.py`` fails if one is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_assets.lib.lazy_polars import Columns, pl, polars_type

if TYPE_CHECKING:
    import pandera.polars as pa


@dataclass(frozen=True)
class Feature:
    type_name: str  # polars' name of its type
    categorical: bool
    description: str

    @property
    def dtype(self) -> pl.DataType:
        return polars_type(self.type_name)


FEATURES: dict[str, Feature] = {
    "carrier": Feature("String", True, "airline carrier code"),
    "origin": Feature("String", True, "departure airport (EWR, JFK, LGA)"),
    "dest": Feature("String", True, "destination airport code"),
    "sched_dep_hour": Feature("Int32", False, "scheduled departure hour, local time"),
    "sched_dep_minute_of_day": Feature("Int32", False, "scheduled departure, minutes after local midnight"),
    "day_of_week": Feature("Int32", False, "ISO weekday of the flight date (1 = Monday)"),
    "month": Feature("Int32", False, "month of the flight date"),
    "distance": Feature("Float64", False, "great-circle distance between the airports, miles"),
    "sched_block_minutes": Feature(
        "Int32", False, "scheduled arrival minus scheduled departure clock time, minutes mod 24 h"
    ),
    "temp": Feature("Float64", False, "origin temperature (F) at the scheduled departure hour"),
    "dewp": Feature("Float64", False, "origin dew point (F) at the scheduled departure hour"),
    "humid": Feature("Float64", False, "origin relative humidity (%) at the scheduled departure hour"),
    "wind_dir": Feature("Float64", False, "origin wind direction (degrees) at the scheduled departure hour"),
    "wind_speed": Feature("Float64", False, "origin wind speed (mph) at the scheduled departure hour"),
    "wind_gust": Feature("Float64", False, "origin wind gust (mph) at the scheduled departure hour"),
    "precip": Feature("Float64", False, "origin precipitation (inches) at the scheduled departure hour"),
    "pressure": Feature("Float64", False, "origin sea-level pressure (mb) at the scheduled departure hour"),
    "visib": Feature("Float64", False, "origin visibility (miles) at the scheduled departure hour"),
    "plane_age": Feature("Int32", False, "aircraft age in years (2013 minus build year)"),
    "seats": Feature("Int32", False, "aircraft seats"),
    "engines": Feature("Int32", False, "aircraft engines"),
    "dest_lat": Feature("Float64", False, "destination latitude"),
    "dest_lon": Feature("Float64", False, "destination longitude"),
    "dest_alt": Feature("Int32", False, "destination altitude (feet)"),
}
KEY_COLUMNS = Columns({"flight_id": "String", "date": "Date"})
# Known only after the flight: never a feature, kept for training labels and monitoring.
LABEL_COLUMNS = Columns({"arr_delay": "Float64", "cancelled": "Boolean"})
# Measured after pushback in raw/flights; must not reach the feature table at all.
POST_DEPARTURE_COLUMNS = frozenset({"dep_time", "dep_delay", "arr_time", "air_time"})
COLUMNS = Columns(
    {**KEY_COLUMNS.type_names, **{n: f.type_name for n, f in FEATURES.items()}, **LABEL_COLUMNS.type_names}
)

_WEATHER = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib")
# Column lineage: each output column and the source-table columns it is computed from.
COLUMN_SOURCES: dict[str, list[tuple[str, str]]] = {
    "flight_id": [("flights", c) for c in ("year", "month", "day", "carrier", "flight", "origin")],
    "date": [("flights", c) for c in ("year", "month", "day")],
    "carrier": [("flights", "carrier")],
    "origin": [("flights", "origin")],
    "dest": [("flights", "dest")],
    "sched_dep_hour": [("flights", "hour")],
    "sched_dep_minute_of_day": [("flights", "sched_dep_time")],
    "day_of_week": [("flights", c) for c in ("year", "month", "day")],
    "month": [("flights", "month")],
    "distance": [("flights", "distance")],
    "sched_block_minutes": [("flights", "sched_dep_time"), ("flights", "sched_arr_time")],
    **{c: [("weather", c)] for c in _WEATHER},
    "plane_age": [("planes", "year")],
    "seats": [("planes", "seats")],
    "engines": [("planes", "engines")],
    "dest_lat": [("airports", "lat")],
    "dest_lon": [("airports", "lon")],
    "dest_alt": [("airports", "alt")],
    "arr_delay": [("flights", "arr_delay")],
    "cancelled": [("flights", "dep_time")],
}


def _minutes(hhmm: pl.Expr) -> pl.Expr:
    return (hhmm // 100) * 60 + hhmm % 100


def row_day() -> tuple[str, pl.Expr]:
    """Every derived daily table carries its day in ``date``: the check pins it to the partition."""
    return "date", pl.col("date")


def build_flight_features(
    flights: pl.DataFrame, weather: pl.DataFrame, planes: pl.DataFrame, airports: pl.DataFrame
) -> pl.DataFrame:
    """One day's feature rows (the day's flights joined to weather, planes and airports)."""
    weather_at_hour = weather.select(
        "origin",
        "time_hour",
        "temp",
        "dewp",
        "humid",
        "wind_dir",
        "wind_speed",
        "wind_gust",
        "precip",
        "pressure",
        "visib",
    ).unique(subset=["origin", "time_hour"], keep="first")
    plane_facts = planes.select(
        "tailnum",
        (pl.lit(2013) - pl.col("year")).cast(pl.Int32).alias("plane_age"),
        pl.col("seats").cast(pl.Int32),
        pl.col("engines").cast(pl.Int32),
    )
    dest_facts = airports.select(
        pl.col("faa").alias("dest"),
        pl.col("lat").alias("dest_lat"),
        pl.col("lon").alias("dest_lon"),
        pl.col("alt").cast(pl.Int32).alias("dest_alt"),
    )
    flight_date = pl.date(pl.col("year"), pl.col("month"), pl.col("day"))
    features = (
        flights.lazy()
        .join(weather_at_hour.lazy(), on=["origin", "time_hour"], how="left", maintain_order="left")
        .join(plane_facts.lazy(), on="tailnum", how="left", maintain_order="left")
        .join(dest_facts.lazy(), on="dest", how="left", maintain_order="left")
        .select(
            pl.format("{}-{}{}-{}", flight_date, pl.col("carrier"), pl.col("flight"), pl.col("origin")).alias(
                "flight_id"
            ),
            flight_date.alias("date"),
            "carrier",
            "origin",
            "dest",
            pl.col("hour").cast(pl.Int32).alias("sched_dep_hour"),
            _minutes(pl.col("sched_dep_time")).cast(pl.Int32).alias("sched_dep_minute_of_day"),
            flight_date.dt.weekday().cast(pl.Int32).alias("day_of_week"),
            pl.col("month").cast(pl.Int32),
            "distance",
            ((_minutes(pl.col("sched_arr_time")) - _minutes(pl.col("sched_dep_time"))) % 1440)
            .cast(pl.Int32)
            .alias("sched_block_minutes"),
            "temp",
            "dewp",
            "humid",
            "wind_dir",
            "wind_speed",
            "wind_gust",
            "precip",
            "pressure",
            "visib",
            "plane_age",
            "seats",
            "engines",
            "dest_lat",
            "dest_lon",
            "dest_alt",
            "arr_delay",
            pl.col("dep_time").is_null().alias("cancelled"),
        )
        .collect()
    )
    return features.select([pl.col(n).cast(t) for n, t in COLUMNS.items()])


def features_contract() -> pa.DataFrameSchema:
    """Types, key uniqueness and plausible ranges (the check pins ``date`` to the partition)."""
    import pandera.polars as pa

    columns = {
        "flight_id": pa.Column(pl.String(), unique=True),
        "date": pa.Column(pl.Date()),
        "carrier": pa.Column(pl.String()),
        "origin": pa.Column(pl.String(), pa.Check.isin(["EWR", "JFK", "LGA"])),
        "dest": pa.Column(pl.String()),
        "sched_dep_hour": pa.Column(pl.Int32(), pa.Check.in_range(0, 23)),
        "sched_dep_minute_of_day": pa.Column(pl.Int32(), pa.Check.in_range(0, 1439)),
        "day_of_week": pa.Column(pl.Int32(), pa.Check.in_range(1, 7)),
        "month": pa.Column(pl.Int32(), pa.Check.in_range(1, 12)),
        "distance": pa.Column(pl.Float64(), pa.Check.gt(0)),
        "sched_block_minutes": pa.Column(pl.Int32(), pa.Check.in_range(0, 1439)),
        "plane_age": pa.Column(pl.Int32(), pa.Check.in_range(0, 80), nullable=True),
        "seats": pa.Column(pl.Int32(), pa.Check.gt(0), nullable=True),
        "engines": pa.Column(pl.Int32(), pa.Check.in_range(1, 4), nullable=True),
        "arr_delay": pa.Column(pl.Float64(), nullable=True),
        "cancelled": pa.Column(pl.Boolean()),
    }
    for name, feature in FEATURES.items():
        columns.setdefault(name, pa.Column(feature.dtype, nullable=True))
    return pa.DataFrameSchema(columns, strict=True, ordered=False, name="features/flight_features")
