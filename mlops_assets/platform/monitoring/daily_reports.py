"""``monitoring/daily_reports``: every model's monitoring of a day, in one daily table.

It is the day's monitoring, complete: one partition holds the rows of every model's daily report
for that day, read at one commit of main. The dbt marts follow it (``gated_by``), not each model's
report: one dependency per mart instead of one per model, so an automation tick does not grow
with models times marts, and a day's marts are built once when its monitoring is done.
"""

from typing import Any

import dagster as dg

from mlops_assets.lib.features import row_day
from mlops_assets.lib.lazy_polars import pl
from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.platform.automation.conditions import every_partition_eager
from mlops_assets.platform.contract_checks import publishing_contract_check
from mlops_assets.platform.monitoring import report_key, report_schema
from mlops_assets.platform.partitions import DAILY_ASSET
from mlops_assets.resources import VersionedStoreResource
from mlops_assets.resources.io_manager import read_partitions, withhold

DAILY_REPORTS_KEY = dg.AssetKey(["monitoring", "daily_reports"])


def _contract(specs: list[ModelSpec]):
    names = sorted(spec.name for spec in specs)
    return lambda: report_schema(DAILY_REPORTS_KEY.to_user_string(), names)


def build_defs(specs: list[ModelSpec]) -> dg.Definitions:
    @dg.asset(
        key=DAILY_REPORTS_KEY,
        deps=[report_key(spec) for spec in specs],
        **DAILY_ASSET,
        group_name="monitoring",
        owners=sorted({owner for spec in specs for owner in spec.owners}),
        kinds={"polars", "parquet"},
        automation_condition=every_partition_eager(),
        description=(
            "Every model's daily monitoring report of the day in one table (long format: date, spec, "
            "model_version, metric, feature, value, threshold, status), read at one commit of main. Built "
            "when the day's reports are all published; the dbt marts of the day follow it."
        ),
    )
    def daily_reports(context: dg.AssetExecutionContext, store: VersionedStoreResource) -> Any:
        versioned = store.open()
        commit = versioned.get_commit("main").id  # every model's report from the same commit
        days = list(context.partition_keys)
        by_day: dict[str, list[pl.DataFrame]] = {day: [] for day in days}
        for spec in specs:
            _, tables = read_partitions(
                versioned, list(report_key(spec).path), days, ref=commit, allow_missing=True
            )
            for day, table in tables.items():
                by_day[day].append(table)
        out = {}
        for day, tables in by_day.items():
            if not tables:
                out[day] = withhold(days, f"no model's daily report of {day} is published on main")
                continue
            out[day] = pl.concat(tables, how="diagonal_relaxed")
            missing = len(specs) - len(tables)
            context.add_asset_metadata(
                {"models": len(tables), "models_without_report": missing, "source_commit": commit},
                partition_key=day,
            )
        return out

    return dg.Definitions(
        assets=[daily_reports],
        asset_checks=[publishing_contract_check(DAILY_REPORTS_KEY, _contract(specs), row_day=row_day)],
    )
