"""``monitoring/overview``: the Model Operations Center, every model's health on one page.

Rebuilt when any model's summary changes on main. It reads each model's summary, its most recent
daily reports and its reference table at ONE commit of main, and the champion alias in MLflow;
publishes the table (one row per model, ``lib/overview.OVERVIEW_COLUMNS``) and, beside it in the
store, a self-contained HTML page linked from the materialization; the page links each model's
latest daily report at the same commit. The same daily figures are in the dbt mart
``fct_model_health`` for analysts.
"""

from datetime import UTC, datetime

import dagster as dg

from mlops_assets.errors import ObjectNotFound
from mlops_assets.lib.lazy_polars import pl
from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.lib.overview import STATES, model_health, overview_table
from mlops_assets.lib.tracking import CHAMPION
from mlops_assets.lib.versioned_store import VersionedStore
from mlops_assets.lib.versioned_store.wap import file_path, read_table, table_path
from mlops_assets.platform.automation.conditions import follows_deps
from mlops_assets.platform.automation.freshness import SUMMARY
from mlops_assets.platform.contract_checks import publishing_contract_check
from mlops_assets.platform.models.assets import model_key
from mlops_assets.platform.monitoring import REPORT_PAGE, recent_reports, report_key, summary_key
from mlops_assets.resources import VersionedStoreResource
from mlops_assets.resources.io_manager import WithFiles
from mlops_assets.resources.mlflow import MlflowResource

OVERVIEW_KEY = dg.AssetKey(["monitoring", "overview"])
OVERVIEW_PAGE = "overview.html"


def _table(store: VersionedStore, commit: str, key: dg.AssetKey) -> "pl.DataFrame | None":
    try:
        return read_table(store, commit, table_path(key.path, None))
    except ObjectNotFound:
        return None


def _contract():
    import pandera.polars as pa

    from mlops_assets.lib.overview import OVERVIEW_COLUMNS

    return pa.DataFrameSchema(
        {
            **{name: pa.Column(dtype, nullable=True) for name, dtype in OVERVIEW_COLUMNS.items()},
            "spec": pa.Column(pl.String(), unique=True),
            "state": pa.Column(pl.String(), pa.Check.isin(STATES)),
            "n_open_alerts": pa.Column(pl.Int64(), pa.Check.ge(0)),
        },
        strict=True,
        name="monitoring/overview",
    )


def build_defs(specs: list[ModelSpec]) -> dg.Definitions:
    @dg.asset(
        key=OVERVIEW_KEY,
        deps=[summary_key(spec) for spec in specs],
        group_name="monitoring",
        owners=sorted({owner for spec in specs for owner in spec.owners}),  # every model's owners read it
        kinds={"polars", "parquet", "html"},
        automation_condition=follows_deps("recompute when a model's summary changes on main"),
        # Rebuilt from the summaries: overdue when they are.
        freshness_policy=SUMMARY,
        description=(
            "The Model Operations Center: are all our models healthy today? One row per model: state (healthy, "
            "warning, drifting, decaying), champion version and its age in days of data, last retrain and its "
            "reason, calls per day against the volume floor, latency per 100 records (p50/p95), realized and "
            "estimated performance against the holdout score, data quality, drifting features and open alerts. "
            "A self-contained HTML page is linked in the metadata; analysts get the daily figures in the dbt "
            "mart fct_model_health."
        ),
    )
    def overview(
        context: dg.AssetExecutionContext,
        store: VersionedStoreResource,
        mlflow: MlflowResource,
    ) -> WithFiles:
        from mlops_assets.lib.report_html import render_overview  # numpy: imported by the step, not at load

        versioned = store.open()
        commit = versioned.get_commit("main").id  # every model's tables from the same commit
        tracker = mlflow.tracker()
        rows, calls, links = [], {}, {}
        for spec in specs:
            summary = _table(versioned, commit, summary_key(spec))
            recent = recent_reports(versioned, commit, spec)
            champion = tracker.version_with_alias(spec.name, CHAMPION)
            rows.append(
                model_health(
                    spec,
                    summary.row(-1, named=True) if summary is not None and summary.height else None,
                    recent,
                    _table(versioned, commit, model_key(spec)),
                    int(champion.version) if champion else None,
                )
            )
            if recent is not None:
                scored = recent.filter(pl.col("metric") == "rows_scored").sort("date")
                calls[spec.name] = scored["value"].to_list()
                latest = recent["date"].max().isoformat()
                links[spec.name] = store.object_url(
                    versioned, commit, file_path(report_key(spec).path, latest, REPORT_PAGE)
                )
        table = overview_table(rows)
        page = render_overview(table, calls, links, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        states = table.group_by("state").len()
        context.add_output_metadata(
            {
                "models": len(table),
                **{f"models_{state.replace(' ', '_')}": n for state, n in states.iter_rows()},
                "open_alerts": int(table["n_open_alerts"].sum()),
                "source_commit": commit,
            }
        )
        # Published beside the table and linked as `html_overview` (io_manager).
        return WithFiles(table, {"html_overview": (OVERVIEW_PAGE, page.encode())})

    return dg.Definitions(
        assets=[overview], asset_checks=[publishing_contract_check(OVERVIEW_KEY, _contract)]
    )
