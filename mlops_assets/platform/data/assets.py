"""Raw assets: one partition = one landed day; dimensions are unpartitioned.

Each asset reads its landed file(s) strictly (``lib.landing``), stages them in the
versioned store (the IO manager), and its blocking contract check publishes them.
"""

from typing import Any

import dagster as dg

from mlops_assets.errors import LandingError
from mlops_assets.lib.tables import DAILY_TABLES, DIMENSION_TABLES, SourceTable
from mlops_assets.platform.automation.freshness import DIMENSIONS
from mlops_assets.platform.contract_checks import materialized_in_run, publishing_contract_check
from mlops_assets.platform.partitions import DAILY_ASSET, OWNERS
from mlops_assets.resources import LandingZoneResource
from mlops_assets.resources.io_manager import WITHHELD_KEY, Withheld

RAW_CODE_VERSION = "1"
CANCELLED_SHARE = "cancelled_share"
FLIGHTS_KEY = dg.AssetKey(["raw", "flights"])
DIMENSION_KEYS = [dg.AssetKey(["raw", t.name]) for t in DIMENSION_TABLES]


def _column_schema(table: SourceTable) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, type_name) for name, type_name in table.columns.type_names.items()],
        constraints=dg.TableConstraints(other=[f"unique key: {', '.join(table.key)}"]),
    )


def _landed_asset(table: SourceTable) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", table.name])

    @dg.asset(
        key=key,
        **(DAILY_ASSET if table.daily else {}),
        group_name="raw",
        owners=OWNERS,
        kinds={"polars", "parquet", "pandera"},
        code_version=RAW_CODE_VERSION,
        # Raw days are requested by the landing sensor, one run per landed day.
        freshness_policy=None if table.daily else DIMENSIONS,
        description=table.description,
        metadata={"dagster/column_schema": _column_schema(table), "landing_table": table.name},
    )
    def _asset(context: dg.AssetExecutionContext, landing: LandingZoneResource) -> Any:
        partitions = context.partition_keys if table.daily else [None]
        tables: dict[str | None, Any] = {}
        for partition in partitions:
            try:
                landed = landing.read(table.name, partition)
            except LandingError as exc:
                if len(partitions) == 1:
                    raise
                # In a range, a bad file fails its own day (in the contract check), not the year.
                context.log.error(str(exc))
                tables[partition] = Withheld(str(exc))
                continue
            for warning in landed.warnings:
                context.log.warning(warning)
            metadata: dict[str, Any] = {
                "landed_file": dg.MetadataValue.path(str(landed.path)),
                "warnings": len(landed.warnings),
            }
            if table.name == "flights":  # judged by the `volume` check
                metadata[CANCELLED_SHARE] = float(landed.table["dep_time"].is_null().mean() or 0.0)
            if partition:
                context.add_asset_metadata(metadata, partition_key=partition)
            else:
                context.add_output_metadata(metadata)
            tables[partition] = landed.table
        rows = sum(t.height for t in tables.values() if not isinstance(t, Withheld))
        context.log.info(f"read {rows} rows of {table.name} from the landing zone")
        return tables if table.daily else tables[None]

    return _asset


def _contract_check(table: SourceTable) -> dg.AssetChecksDefinition:
    def contract():
        from mlops_assets.lib.contracts import contract_for

        return contract_for(table)

    def day_of_row():
        from mlops_assets.lib.contracts import row_day

        return row_day(table)

    return publishing_contract_check(
        dg.AssetKey(["raw", table.name]), contract, table.name, day_of_row if table.daily else None
    )


@dg.asset_check(
    asset=FLIGHTS_KEY,
    name="volume",
    blocking=False,
    description=(
        "Warns (never blocks) when a landed day has fewer flights than MLOPS_MIN_VOLUME_SHARE of the median of "
        "the days before it (a partial delivery is the most common upstream failure), or more cancelled flights "
        "than MLOPS_MAX_CANCELLED_SHARE. The day is still published: a holiday or a blizzard is real."
    ),
)
def volume_check(context: dg.AssetCheckExecutionContext, landing: LandingZoneResource) -> dg.AssetCheckResult:
    from mlops_assets.lib.anomalies import TRAILING_DAYS, landing_anomalies

    mine = materialized_in_run(context, FLIGHTS_KEY, daily=True)
    days = {
        day: (int(m["rows"].value), float(m[CANCELLED_SHARE].value))
        for day, m in mine.items()
        if day and "rows" in m and CANCELLED_SHARE in m and WITHHELD_KEY not in m
    }
    history: dict[str, int] = {}
    if days:
        first = min(days)
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=FLIGHTS_KEY), limit=8 * TRAILING_DAYS
        ).records
        for record in records:  # newest first: a day's latest published count
            metadata = record.asset_materialization.metadata
            day = record.partition_key
            published = metadata.get("published")
            if day and day < first and day not in history and published is not None and published.value:
                history[day] = int(metadata["rows"].value)
    anomalies = landing_anomalies(
        days,
        history,
        min_volume_share=landing.min_volume_share,
        max_cancelled_share=landing.max_cancelled_share,
    )
    metadata = {
        "days_checked": float(len(days)),
        "low_volume_days": dg.MetadataValue.json(
            sorted({a.day for a in anomalies if a.kind == "low_volume"})
        ),
        "mostly_cancelled_days": dg.MetadataValue.json(
            sorted({a.day for a in anomalies if a.kind == "cancelled"})
        ),
    }
    if not anomalies:
        return dg.AssetCheckResult(passed=True, metadata=metadata)
    for anomaly in anomalies:
        context.log.warning(f"raw/flights {anomaly.message}")
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=" | ".join(a.message for a in anomalies)[:2000],
        metadata=metadata,
    )


# Small tables: one process runs every step (no subprocess, no code-location import per step).
RAW_DAILY_JOB = dg.define_asset_job(
    "raw_daily",
    selection=dg.AssetSelection.assets(*[["raw", t.name] for t in DAILY_TABLES]),
    description="Land-to-main for the daily raw tables (a range runs as one run).",
    executor_def=dg.in_process_executor,
)
RAW_DIMENSIONS_JOB = dg.define_asset_job(
    "raw_dimensions",
    selection=dg.AssetSelection.assets(*DIMENSION_KEYS),
    description="Refresh the reference dimensions (airports, planes, airlines).",
    executor_def=dg.in_process_executor,
)


def build_defs() -> dg.Definitions:
    tables = (*DAILY_TABLES, *DIMENSION_TABLES)
    assets = [_landed_asset(t) for t in tables]
    checks = [*[_contract_check(t) for t in tables], volume_check]
    jobs = [RAW_DAILY_JOB, RAW_DIMENSIONS_JOB]
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=jobs)
