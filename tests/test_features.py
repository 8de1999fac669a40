"""features/flight_features: built from the raw tables, no leakage, a blocking contract."""

from __future__ import annotations

import dagster as dg
import numpy as np
import polars as pl

from mlops_assets.lib.features import FEATURES, LABEL_COLUMNS, POST_DEPARTURE_COLUMNS
from mlops_assets.lib.model_spec import load_specs
from mlops_assets.lib.versioned_store.wap import read_table, table_path
from mlops_assets.settings import MODELS_DIR
from tests.conftest import build_world, expected_rows, source_table

FEATURES_KEY = dg.AssetKey(["features", "flight_features"])


def test_features_publish_one_row_per_flight_with_weather_joined(settings, instance, store):
    build_world(settings, instance, "2013-07-04", "2013-07-05")
    for day in ("2013-07-04", "2013-07-05"):
        features = read_table(store, "main", table_path(FEATURES_KEY.path, day))
        assert features.height == expected_rows("flights", day)
        assert features["flight_id"].is_unique().all()
        assert features["temp"].null_count() / features.height < 0.05  # weather found for the scheduled hour
    evaluation = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(FEATURES_KEY, "contract"))
    assert evaluation.event.asset_check_evaluation.passed


def test_no_feature_is_known_only_after_departure(settings, instance, store):
    """Fails if a target-derived or post-departure column reaches the features of any model."""
    assert not set(FEATURES) & (set(LABEL_COLUMNS) | POST_DEPARTURE_COLUMNS)
    for spec, _ in load_specs(MODELS_DIR).values():
        assert not set(spec.features) & (set(LABEL_COLUMNS) | POST_DEPARTURE_COLUMNS), spec.name
    build_world(settings, instance, "2013-08-01", "2013-08-01")
    features = read_table(store, "main", table_path(FEATURES_KEY.path, "2013-08-01"))
    assert not set(features.columns) & POST_DEPARTURE_COLUMNS
    # No numeric feature may be (nearly) a copy of the label, whatever its name.
    labelled = features.filter(pl.col("arr_delay").is_not_null())
    target = labelled["arr_delay"].to_numpy()
    for name, feature in FEATURES.items():
        if feature.categorical:
            continue
        values = labelled[name].cast(pl.Float64).fill_null(strategy="mean").to_numpy()
        if np.std(values) > 0:
            assert abs(np.corrcoef(values, target)[0, 1]) < 0.5, f"{name} tracks arr_delay"
    raw = source_table("flights").filter((pl.col("month") == 8) & (pl.col("day") == 1))
    assert (
        abs(
            np.corrcoef(raw["dep_delay"].fill_null(0).to_numpy(), raw["arr_delay"].fill_null(0).to_numpy())[
                0, 1
            ]
        )
        > 0.5
    ), "sanity: the leak detector would catch dep_delay"
