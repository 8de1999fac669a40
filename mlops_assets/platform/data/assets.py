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
from mlops_assets.resources import LandingZoneResource, VersionedStoreResource
from mlops_assets.resources.io_manager import WITHHELD_KEY, Withheld

RAW_CODE_VERSION = "1"
PROFILE = "profile"
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
    def _asset(
        context: dg.AssetExecutionContext, landing: LandingZoneResource, store: VersionedStoreResource
    ) -> Any:
        from mlops_assets.lib.anomalies import day_profile
        from mlops_assets.lib.audit import dimension_codes

        partitions = context.partition_keys if table.daily else [None]
        codes = dimension_codes(store.open(), table) if table.daily else {}
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
            if partition:  # what the `anomalies` check judges the day on
                metadata[PROFILE] = dg.MetadataValue.json(day_profile(table, landed.table, partition, codes))
                context.add_asset_metadata(metadata, partition_key=partition)
            else:
                context.add_output_metadata(metadata)
            tables[partition] = landed.table
        rows = sum(t.height for t in tables.values() if not isinstance(t, Withheld))
        context.log.info(f"read {rows} rows of {table.name} from the landing zone")
        return tables if table.daily else tables[None]

    return _asset


def _contract_check(table: SourceTable) -> dg.AssetChecksDefinition:
    def contract(store):
        from mlops_assets.lib.audit import dimension_codes
        from mlops_assets.lib.contracts import contract_for

        return contract_for(table, dimension_codes(store, table) if table.references else None)

    def day_of_row():
        from mlops_assets.lib.contracts import row_day

        return row_day(table)

    return publishing_contract_check(
        dg.AssetKey(["raw", table.name]),
        contract,
        table.name,
        day_of_row if table.daily else None,
        reads_main=True,
    )


def _history(context: dg.AssetCheckExecutionContext, key: dg.AssetKey, days: list[str]) -> dict[str, Any]:
    """The latest published profile of each of ``days`` (one query over those partitions)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=days), limit=4 * len(days)
    ).records
    history: dict[str, Any] = {}
    for record in records:  # newest first: a day's latest published profile
        metadata = record.asset_materialization.metadata
        day = record.partition_key
        published = metadata.get("published")
        if day and day not in history and published is not None and published.value and PROFILE in metadata:
            history[day] = metadata[PROFILE].value
    return history


def _anomalies_check(table: SourceTable) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(["raw", table.name])

    @dg.asset_check(
        asset=key,
        name="anomalies",
        blocking=False,
        description=(
            f"Warns (never blocks) on a landed day of {key.to_user_string()} that every row of which can be valid "
            "and still be wrong: fewer rows than MLOPS_MIN_VOLUME_SHARE of the same weekday's median over the 4 "
            "weeks before (a partial delivery), hours missing from an hourly table, a measured column's median far "
            "outside the 28 days before (a unit change), codes missing from a dimension beyond their measured "
            "share, more flights cancelled than MLOPS_MAX_CANCELLED_SHARE. The day is still published."
        ),
    )
    def _check(context: dg.AssetCheckExecutionContext, landing: LandingZoneResource) -> dg.AssetCheckResult:
        from mlops_assets.lib.anomalies import day_anomalies, history_days

        mine = materialized_in_run(context, key, daily=True)
        days = {
            day: m[PROFILE].value for day, m in mine.items() if day and PROFILE in m and WITHHELD_KEY not in m
        }
        needed = sorted({d for day in days for d in history_days(day)} - set(days))
        history = _history(context, key, needed) if days else {}
        anomalies = day_anomalies(
            table,
            days,
            history,
            min_volume_share=landing.min_volume_share,
            max_cancelled_share=landing.max_cancelled_share,
        )
        metadata: dict[str, Any] = {"days_checked": float(len(days))}
        for kind in ANOMALY_KINDS:
            metadata[f"{kind}_days"] = dg.MetadataValue.json(
                sorted({a.day for a in anomalies if a.kind == kind})
            )
        if not anomalies:
            return dg.AssetCheckResult(passed=True, metadata=metadata)
        for anomaly in anomalies:
            context.log.warning(f"{key.to_user_string()} {anomaly.message}")
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=" | ".join(a.message for a in anomalies)[:2000],
            metadata=metadata,
        )

    return _check


ANOMALY_KINDS = ("low_volume", "missing_hours", "level_shift", "unknown_codes", "cancelled")


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
    checks = [*[_contract_check(t) for t in tables], *[_anomalies_check(t) for t in DAILY_TABLES]]
    jobs = [RAW_DAILY_JOB, RAW_DIMENSIONS_JOB]
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=jobs)
