"""Feature tables: ``features/flight_features`` (daily)."""

import dagster as dg
import polars as pl
from typing import Any

from mlops_assets.defs.automation.conditions import every_partition_eager
from mlops_assets.defs.automation.freshness import DAILY_DATA
from mlops_assets.defs.contract_checks import publishing_contract_check
from mlops_assets.defs.partitions import DAILY, OWNERS
from mlops_assets.lib.features import (
    COLUMN_SOURCES,
    COLUMNS,
    FEATURES,
    LABEL_COLUMNS,
    build_flight_features,
    features_contract,
)

FEATURES_KEY = dg.AssetKey(["features", "flight_features"])
FEATURES_CODE_VERSION = "1"


def _column_schema() -> dg.TableSchema:
    describe = {
        "flight_id": "stable flight key: date-carrier+flight number-origin",
        "date": "flight date (the partition)",
        **{name: feature.description for name, feature in FEATURES.items()},
        "arr_delay": "LABEL: arrival delay in minutes (null for cancelled/diverted); never a feature",
        "cancelled": "LABEL: no departure time recorded; never a feature",
    }
    return dg.TableSchema(columns=[dg.TableColumn(n, str(t), description=describe[n]) for n, t in COLUMNS.items()])


COLUMN_LINEAGE = dg.TableColumnLineage(
    deps_by_column={
        column: [dg.TableColumnDep(asset_key=dg.AssetKey(["raw", table]), column_name=name) for table, name in sources]
        for column, sources in COLUMN_SOURCES.items()
    }
)


@dg.asset(
    key=FEATURES_KEY,
    ins={
        "flights": dg.AssetIn(["raw", "flights"]),
        "weather": dg.AssetIn(["raw", "weather"]),
        "planes": dg.AssetIn(["raw", "planes"]),
        "airports": dg.AssetIn(["raw", "airports"]),
    },
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="features",
    owners=OWNERS,
    kinds={"polars", "parquet", "pandera"},
    code_version=FEATURES_CODE_VERSION,
    automation_condition=every_partition_eager(),
    freshness_policy=DAILY_DATA,
    description=(
        "One row per scheduled flight with what is known before departure: schedule, route, aircraft "
        "(raw/planes), destination (raw/airports) and origin weather at the scheduled hour (raw/weather, "
        f"joined on origin and hour). Labels ({', '.join(LABEL_COLUMNS)}) ride along for training and "
        "monitoring only."
    ),
    metadata={"dagster/column_schema": _column_schema(), "dagster/column_lineage": COLUMN_LINEAGE},
)
def flight_features(
    context: dg.AssetExecutionContext, flights: Any, weather: Any, planes: pl.DataFrame, airports: pl.DataFrame
) -> Any:
    tables = {}
    for day in context.partition_keys:
        tables[day] = build_flight_features(flights[day], weather[day], planes, airports)
        weather_missing = tables[day]["temp"].null_count() / max(tables[day].height, 1)
        context.add_asset_metadata(
            {"weather_missing_share": float(weather_missing), "dagster/column_lineage": COLUMN_LINEAGE}, partition_key=day
        )
    return tables


def build_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[flight_features],
        asset_checks=[publishing_contract_check(FEATURES_KEY, features_contract)],
    )
