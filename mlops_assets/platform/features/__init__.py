"""Feature tables: ``features/flight_features`` (daily)."""

from typing import Any

import dagster as dg

from mlops_assets.lib.features import (
    COLUMN_SOURCES,
    COLUMNS,
    FEATURES,
    LABEL_COLUMNS,
    build_flight_features,
    features_contract,
    row_day,
)
from mlops_assets.lib.lazy_polars import pl
from mlops_assets.lib.tables import FLIGHTS, WEATHER
from mlops_assets.platform.automation.conditions import DailyDepsPublished, every_partition_eager
from mlops_assets.platform.contract_checks import publishing_contract_check
from mlops_assets.platform.data.assets import DIMENSION_KEYS
from mlops_assets.platform.partitions import DAILY_ASSET, OWNERS
from mlops_assets.resources.io_manager import ALLOW_MISSING_PARTITIONS, withhold

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
    return dg.TableSchema(
        columns=[dg.TableColumn(n, t, description=describe[n]) for n, t in COLUMNS.type_names.items()]
    )


COLUMN_LINEAGE = dg.TableColumnLineage(
    deps_by_column={
        column: [
            dg.TableColumnDep(asset_key=dg.AssetKey(["raw", table]), column_name=name)
            for table, name in sources
        ]
        for column, sources in COLUMN_SOURCES.items()
    }
)


@dg.asset(
    key=FEATURES_KEY,
    ins={
        # A day whose raw input is not published (it failed its contract) is withheld, not the range.
        "flights": dg.AssetIn(["raw", "flights"], metadata={ALLOW_MISSING_PARTITIONS: True}),
        "weather": dg.AssetIn(["raw", "weather"], metadata={ALLOW_MISSING_PARTITIONS: True}),
        "planes": dg.AssetIn(["raw", "planes"]),
        "airports": dg.AssetIn(["raw", "airports"]),
    },
    **DAILY_ASSET,
    group_name="features",
    owners=OWNERS,
    kinds={"polars", "parquet", "pandera"},
    code_version=FEATURES_CODE_VERSION,
    # New days are built with the dimensions of their time; recomputing history after a dimension
    # change is a deliberate backfill (job daily_assets over the range), not an automatic storm.
    # A day whose raw data failed its contract is not built until a good delivery is published.
    automation_condition=(
        every_partition_eager(ignore_updates_of=dg.AssetSelection.assets(*DIMENSION_KEYS))
        & DailyDepsPublished()
    ),
    description=(
        "One row per scheduled flight with what is known before departure: schedule, route, aircraft "
        "(raw/planes), destination (raw/airports) and origin weather at the scheduled hour (raw/weather, "
        f"joined on origin and hour; null when upstream has no observation). Labels ({', '.join(LABEL_COLUMNS)}) "
        "ride along for training and monitoring only."
    ),
    metadata={"dagster/column_schema": _column_schema(), "dagster/column_lineage": COLUMN_LINEAGE},
)
def flight_features(
    context: dg.AssetExecutionContext,
    flights: Any,
    weather: Any,
    planes: Any,
    airports: Any,
) -> Any:
    days = context.partition_keys
    ready = [d for d in days if d in flights and d in weather]
    # One pass over the whole range: the joins cost per row, not per day.
    built = build_flight_features(
        pl.concat([flights[d] for d in ready]) if ready else pl.DataFrame(schema=FLIGHTS.columns),
        pl.concat([weather[d] for d in ready]) if ready else pl.DataFrame(schema=WEATHER.columns),
        planes,
        airports,
    )
    by_day = {key[0].isoformat(): frame for key, frame in built.partition_by("date", as_dict=True).items()}
    tables: dict[str, Any] = {}
    for day in days:
        if day not in ready:
            missing = [
                name
                for name, table in (("raw/flights", flights), ("raw/weather", weather))
                if day not in table
            ]
            tables[day] = withhold(days, f"{' and '.join(missing)} partition {day} is not published on main")
            continue
        tables[day] = by_day.get(day, built.clear())
        weather_missing = tables[day]["temp"].null_count() / max(tables[day].height, 1)
        context.add_asset_metadata({"weather_missing_share": float(weather_missing)}, partition_key=day)
    context.add_output_metadata({"dagster/column_lineage": COLUMN_LINEAGE})
    return tables


def _contract():
    return features_contract()


def build_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[flight_features],
        asset_checks=[publishing_contract_check(FEATURES_KEY, _contract, row_day=row_day)],
    )
