"""Monitoring: ``monitoring/<spec>/daily_report`` (daily) and ``monitoring/<spec>/summary``."""

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg

from mlops_assets.errors import MlopsError
from mlops_assets.lib.features import row_day
from mlops_assets.lib.lazy_polars import Columns, pl
from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.lib.monitoring import SUMMARY_DAYS, Latency, daily_report, headline, summarize
from mlops_assets.lib.versioned_store import MAIN, VersionedStore
from mlops_assets.lib.versioned_store.wap import published_partitions
from mlops_assets.platform.automation.conditions import every_partition_eager, follows_deps
from mlops_assets.platform.automation.freshness import SUMMARY
from mlops_assets.platform.contract_checks import DATA_VERSION_TAG, publishing_contract_check
from mlops_assets.platform.features import FEATURES_KEY
from mlops_assets.platform.inference import predictions_key
from mlops_assets.platform.partitions import DAILY_ASSET
from mlops_assets.resources import VersionedStoreResource
from mlops_assets.resources.io_manager import ALLOW_MISSING_PARTITIONS, WithFiles, read_partitions, withhold
from mlops_assets.resources.mlflow import MlflowResource

if TYPE_CHECKING:  # drift, estimation and the HTML report (numpy) are imported by the steps, not at load
    from mlops_assets.lib.estimation import PerformanceEstimator

REPORT_PAGE = "report.html"  # a day's HTML report, beside its table in the store

MONITORING_CODE_VERSION = "1"
STATUSES = ["ok", "warn", "drift", "decay", "pending", "info"]
SUMMARY_COLUMNS = Columns(
    {
        "spec": "String",
        "window_start": "Date",
        "window_end": "Date",
        "days": "Int64",
        "model_version": "Int64",
        "verdict": "String",
        "reason": "String",
        "drifting_features": "String",
        "mean_score": "Float64",
        "score_threshold": "Float64",
        "labelled_days": "Int64",
        "versions_in_window": "String",
        "estimated_score": "Float64",
        "estimated_decay": "Boolean",
    }
)


def report_key(spec: ModelSpec) -> dg.AssetKey:
    return dg.AssetKey(["monitoring", spec.name, "daily_report"])


def summary_key(spec: ModelSpec) -> dg.AssetKey:
    return dg.AssetKey(["monitoring", spec.name, "summary"])


def recent_reports(store: VersionedStore, ref: str, spec: ModelSpec) -> "pl.DataFrame | None":
    """The model's most recent ``SUMMARY_DAYS`` daily reports at ``ref`` (None before the first)."""
    days = published_partitions(store, ref, report_key(spec).path)[-SUMMARY_DAYS:]
    if not days:
        return None
    _, tables = read_partitions(store, list(report_key(spec).path), list(days), ref=ref)
    return pl.concat(list(tables.values()), how="diagonal_relaxed")


def report_schema(name: str, specs: list[str]):
    """The Pandera contract of daily report rows (long format) of the models ``specs``."""
    import pandera.polars as pa

    return pa.DataFrameSchema(
        {
            "date": pa.Column(pl.Date()),
            "spec": pa.Column(pl.String(), pa.Check.isin(specs)),
            "model_version": pa.Column(pl.Int64(), pa.Check.gt(0)),
            "metric": pa.Column(pl.String()),
            "feature": pa.Column(pl.String(), nullable=True),
            "value": pa.Column(pl.Float64(), nullable=True),
            "threshold": pa.Column(pl.Float64(), nullable=True),
            "status": pa.Column(pl.String(), pa.Check.isin(STATUSES)),
        },
        strict=True,
        name=name,
    )


def _report_contract(spec: ModelSpec):
    return lambda: report_schema(report_key(spec).to_user_string(), [spec.name])


def _summary_contract():
    import pandera.polars as pa

    return pa.DataFrameSchema(
        {
            **{
                c: pa.Column(t, nullable=c in ("mean_score", "score_threshold", "estimated_score"))
                for c, t in SUMMARY_COLUMNS.items()
            },
            "verdict": pa.Column(pl.String(), pa.Check.isin(["ok", "drift", "decay"])),
        },
        strict=True,
        name="monitoring summary",
    )


def _latencies(context: dg.AssetExecutionContext, spec: ModelSpec, days: list[str]) -> dict[str, Latency]:
    """Latency of the prediction run that produced each day's scores on main, in one query.

    A re-scoring that produced identical scores (same data version) did not produce what main
    holds: the first run that did is the one measured, so the report stays the same too.
    """
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=predictions_key(spec), asset_partitions=days),
        limit=8 * len(days) + 10,
    ).records
    current: dict[str, str | None] = {}
    found: dict[str, Latency] = {}
    for record in records:  # newest first
        day, metadata = record.partition_key, record.asset_materialization.metadata
        version = record.asset_materialization.tags.get(DATA_VERSION_TAG)
        current.setdefault(day, version)
        if version == current[day] and "latency_ms_per_100_p50" in metadata:  # older ones overwrite newer
            found[day] = Latency(
                metadata["latency_ms_per_100_p50"].value, metadata["latency_ms_per_100_p95"].value
            )
    return found


def _estimator(tracker, spec: ModelSpec, version: int, log) -> "PerformanceEstimator | None":
    """The version's performance estimator; a version trained before estimation has none (the
    report then has no estimates, and says so in the log)."""
    from mlops_assets.lib.estimation import ESTIMATOR_ARTIFACT, PerformanceEstimator

    try:
        return PerformanceEstimator.from_dict(
            tracker.load_json_artifact(spec.name, str(version), ESTIMATOR_ARTIFACT)
        )
    except MlopsError as exc:
        log.warning(f"{spec.name} v{version}: no performance estimates: {exc}")
        return None


def _performance_line(spec: ModelSpec, figures: dict[str, float], labels_arrived: bool) -> str:
    """The report's headline on performance: the estimate with its band, then the realized value."""
    metric = spec.promotion.metric
    parts = ["labels arrived" if labels_arrived else "labels pending"]
    if f"estimated_{metric}" in figures:
        parts.append(
            f"estimated {metric} {figures[f'estimated_{metric}']:.4f} "
            f"[{figures[f'estimated_{metric}_lower']:.4f}, {figures[f'estimated_{metric}_upper']:.4f}]"
        )
    if metric in figures:
        parts.append(f"realized {metric} {figures[metric]:.4f}")
    return "; ".join(parts)


def _daily_report_asset(spec: ModelSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=report_key(spec),
        ins={
            "predictions": dg.AssetIn(predictions_key(spec), metadata={ALLOW_MISSING_PARTITIONS: True}),
            # Day D's labels arrive with day D+label_delay: reading that day makes the report depend
            # on it, so it is recomputed when the labels land; until then it may be missing.
            "features": dg.AssetIn(
                FEATURES_KEY,
                partition_mapping=dg.TimeWindowPartitionMapping(
                    start_offset=0, end_offset=spec.training.label_delay_days
                ),
                metadata={ALLOW_MISSING_PARTITIONS: True},
            ),
        },
        **DAILY_ASSET,
        group_name="monitoring",
        owners=spec.owners,
        kinds={"polars", "parquet", "html"},
        code_version=MONITORING_CODE_VERSION,
        automation_condition=every_partition_eager(ignore_missing=dg.AssetSelection.assets(FEATURES_KEY)),
        description=(
            f"Daily monitoring of '{spec.name}' against the reference profile saved with the scoring model version: "
            "data quality (missing, out-of-range, row count), feature and prediction drift (PSI, KS, chi-square), "
            f"performance once labels arrive ({spec.training.label_delay_days} d later; 'pending' until then), "
            "latency and volume. Long format (date, spec, model_version, metric, feature, value, threshold, status) "
            "plus a self-contained HTML report, published beside the day's table in the versioned store and linked "
            "in the metadata (html_report)."
        ),
    )
    def _report(
        context: dg.AssetExecutionContext,
        predictions: Any,
        features: Any,
        mlflow: MlflowResource,
    ) -> Any:
        from mlops_assets.lib.drift import ReferenceProfile
        from mlops_assets.lib.report_html import render_report

        tracker = mlflow.tracker()
        profiles: dict[int, tuple[ReferenceProfile, dict[str, str]]] = {}
        latencies = _latencies(context, spec, list(context.partition_keys))
        tables = {}
        for day in context.partition_keys:
            if day not in predictions or day not in features:
                unpublished = predictions_key(spec) if day not in predictions else FEATURES_KEY
                tables[day] = withhold(
                    context.partition_keys,
                    f"{unpublished.to_user_string()} partition {day} is not published on main",
                )
                continue
            day_predictions = predictions[day]
            version = int(day_predictions["model_version"].max())
            if version not in profiles:
                profile = ReferenceProfile.from_dict(tracker.load_reference_profile(spec.name, str(version)))
                profiles[version] = (
                    profile,
                    tracker.lineage(spec.name, str(version))["tags"],
                    _estimator(tracker, spec, version, context.log),
                )
            profile, tags, estimator = profiles[version]
            label_day = (date.fromisoformat(day) + timedelta(days=spec.training.label_delay_days)).isoformat()
            labels_arrived = label_day in features
            report = daily_report(
                spec,
                date.fromisoformat(day),
                features[day],
                day_predictions,
                profile,
                labels_arrived=labels_arrived,
                holdout_score=float(tags["mlops.holdout_score"]),
                expected_rows=int(tags["mlops.train_rows"]) / max(int(tags.get("mlops.train_days", "1")), 1),
                latency=latencies.get(day),
                estimator=estimator,
            )
            figures = headline(report, spec)
            label_state = _performance_line(spec, figures, labels_arrived)
            page = render_report(
                f"{spec.name} monitoring report {day} (model v{version})",
                report,
                profile,
                day_predictions["score"].to_numpy(),
                f"{label_state}; {figures.get('drifting_features', 0):.0f} drifting feature(s)",
            )
            # The page is published with the day's table and linked as `html_report` (io_manager).
            tables[day] = WithFiles(report, {"html_report": (REPORT_PAGE, page.encode())})
            context.add_asset_metadata(
                {**figures, "labels": "arrived" if labels_arrived else "pending", "model_version": version},
                partition_key=day,
            )
        return tables

    return _report


def _summary_asset(spec: ModelSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=summary_key(spec),
        deps=[report_key(spec)],
        group_name="monitoring",
        owners=spec.owners,
        kinds={"polars", "parquet"},
        code_version=MONITORING_CODE_VERSION,
        automation_condition=follows_deps(),
        freshness_policy=SUMMARY,
        description=(
            f"Rolling state of '{spec.name}' over the most recent daily reports published on main: drifting features "
            "and performance against the model's holdout score, reduced to one verdict (ok / drift / decay) and its "
            "reason. Automation reads the verdict to decide on retraining."
        ),
    )
    def _summary(context: dg.AssetExecutionContext, store: VersionedStoreResource) -> Any:
        reports = recent_reports(store.open(), MAIN, spec)
        if reports is None:
            raise MlopsError(f"monitoring/{spec.name}/summary: no daily report is published on main yet")
        summary = summarize(spec, reports)
        context.add_output_metadata(
            {
                "verdict": summary["verdict"],
                "reason": summary["reason"],
                "drifting_features": summary["drifting_features"] or "none",
                "window": f"{summary['window_start']}..{summary['window_end']}",
                "model_version": summary["model_version"],
                "versions_in_window": summary["versions_in_window"],
                **({"mean_score": summary["mean_score"]} if summary["mean_score"] is not None else {}),
                **(
                    {"estimated_score": summary["estimated_score"]}
                    if summary["estimated_score"] is not None
                    else {}
                ),
                "estimated_decay": summary["estimated_decay"],
            }
        )
        return pl.DataFrame([summary], schema=SUMMARY_COLUMNS)

    return _summary


def build_defs(spec: ModelSpec) -> dg.Definitions:
    return dg.Definitions(
        assets=[_daily_report_asset(spec), _summary_asset(spec)],
        asset_checks=[
            publishing_contract_check(report_key(spec), _report_contract(spec), row_day=row_day),
            publishing_contract_check(summary_key(spec), _summary_contract),
        ],
    )
