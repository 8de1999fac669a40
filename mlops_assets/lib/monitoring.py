"""The daily monitoring report and the rolling summary, as plain polars.

A report is one long table per (spec, day): data quality, feature and prediction drift
against the reference profile saved at training time, performance once the day's labels have
arrived (else ``pending``), latency and volume. The summary turns recent reports into one
verdict for automation: ``ok``, ``drift`` or ``decay``, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from mlops_assets.lib import training
from mlops_assets.lib.lazy_polars import Columns, pl
from mlops_assets.lib.model_spec import METRICS, ModelSpec

if TYPE_CHECKING:  # drift and estimation (numpy) are imported when a report is computed, not at load
    from mlops_assets.lib.drift import DriftThresholds, ReferenceProfile
    from mlops_assets.lib.estimation import PerformanceEstimator

REPORT_COLUMNS = Columns(
    {
        "date": "Date",
        "spec": "String",
        "model_version": "Int64",
        "metric": "String",
        "feature": "String",
        "value": "Float64",
        "threshold": "Float64",
        "status": "String",
    }
)
OK, WARN, DRIFT, DECAY, PENDING, INFO = "ok", "warn", "drift", "decay", "pending", "info"
SUMMARY_DAYS = 7


@dataclass(frozen=True)
class Latency:
    p50_ms_per_100: float
    p95_ms_per_100: float


def thresholds_of(spec: ModelSpec) -> DriftThresholds:
    from mlops_assets.lib.drift import DriftThresholds

    return DriftThresholds(
        psi_threshold=spec.monitoring.psi_threshold,
        ks_threshold=spec.monitoring.ks_threshold,
        max_missing_share=spec.monitoring.max_missing_share,
    )


def performance_threshold(spec: ModelSpec, holdout_score: float) -> float:
    """Worst acceptable daily score: the model's holdout score minus the allowed drop."""
    drop = spec.monitoring.performance_drop
    return holdout_score - drop if spec.higher_is_better else holdout_score + drop


def past_limit(spec: ModelSpec, score: float, limit: float) -> bool:
    """Worse than the limit, in the direction of the spec's promotion metric."""
    return score < limit if spec.higher_is_better else score > limit


def daily_report(
    spec: ModelSpec,
    day: date,
    features: pl.DataFrame,
    predictions: pl.DataFrame,
    profile: ReferenceProfile,
    *,
    labels_arrived: bool,
    holdout_score: float,
    expected_rows: float,
    latency: Latency | None,
    estimator: PerformanceEstimator | None = None,
) -> pl.DataFrame:
    from mlops_assets.lib.drift import compare

    versions = predictions["model_version"].unique().to_list()
    model_version = int(max(versions))
    scored = features.join(predictions.select("flight_id", "score"), on="flight_id", how="inner")
    exempt = [*spec.monitoring.drift_exempt, profile.score_column]
    drift = compare(profile, scored.select(profile.features), thresholds_of(spec)).with_columns(
        # Exempt features and the score (prediction drift) are reported with their values, never alerting.
        pl.when((pl.col("status") == DRIFT) & pl.col("feature").is_in(exempt))
        .then(pl.lit(INFO))
        .otherwise(pl.col("status").fill_null(INFO))
        .alias("status")
    )
    rows: list[dict] = [
        {
            "metric": "row_count",
            "feature": None,
            "value": float(features.height),
            "threshold": spec.monitoring.min_volume_share * expected_rows,
            "status": WARN if features.height < spec.monitoring.min_volume_share * expected_rows else OK,
        },
        {
            "metric": "cancelled_share",
            "feature": None,
            "value": float(features["cancelled"].mean() or 0.0),
            "threshold": spec.monitoring.max_cancelled_share,
            "status": WARN
            if (features["cancelled"].mean() or 0.0) > spec.monitoring.max_cancelled_share
            else OK,
        },
        {
            "metric": "rows_scored",
            "feature": None,
            "value": float(predictions.height),
            "threshold": float(features.height),
            "status": OK if predictions.height == features.height else WARN,
        },
    ]
    if latency is not None:
        rows += [
            {
                "metric": "latency_ms_per_100_p50",
                "feature": None,
                "value": latency.p50_ms_per_100,
                "threshold": None,
                "status": INFO,
            },
            {
                "metric": "latency_ms_per_100_p95",
                "feature": None,
                "value": latency.p95_ms_per_100,
                "threshold": None,
                "status": INFO,
            },
        ]
    task_metrics = [m for m, (task, _) in METRICS.items() if task == spec.task]
    if estimator is not None:
        rows += _estimate_rows(spec, estimator, scored, holdout_score)
    if labels_arrived:
        labelled = training.labelled(spec, scored)
        values = training.evaluate(spec, labelled["score"].to_numpy(), labelled[training.TARGET].to_numpy())
        rows.append(
            {
                "metric": "labelled_rows",
                "feature": None,
                "value": float(labelled.height),
                "threshold": None,
                "status": INFO,
            }
        )
        for metric in task_metrics:
            value = values[metric]
            if metric == spec.promotion.metric:
                limit = performance_threshold(spec, holdout_score)
                worse = past_limit(spec, value, limit)
                rows.append(
                    {
                        "metric": metric,
                        "feature": None,
                        "value": value,
                        "threshold": limit,
                        "status": DECAY if worse else OK,
                    }
                )
            else:
                rows.append(
                    {"metric": metric, "feature": None, "value": value, "threshold": None, "status": INFO}
                )
    else:
        rows += [
            {"metric": m, "feature": None, "value": None, "threshold": None, "status": PENDING}
            for m in task_metrics
        ]
    table = pl.concat(
        [
            drift.select("metric", "feature", "value", "threshold", "status"),
            pl.DataFrame(
                rows,
                schema={k: REPORT_COLUMNS[k] for k in ("metric", "feature", "value", "threshold", "status")},
            ),
        ]
    )
    return table.select(
        pl.lit(day).alias("date"),
        pl.lit(spec.name).alias("spec"),
        pl.lit(model_version, dtype=pl.Int64).alias("model_version"),
        pl.all(),
    ).select([pl.col(c).cast(t) for c, t in REPORT_COLUMNS.items()])


def _estimate_rows(
    spec: ModelSpec, estimator: PerformanceEstimator, scored: pl.DataFrame, holdout_score: float
) -> list[dict]:
    """``estimated_<metric>`` with its band, from the day's scores and features alone (no labels):
    known the day the flights are scored, kept next to the realized metric once labels land.
    The promotion metric's estimate warns when it is past the allowed drop (an early warning)."""
    from mlops_assets.lib.estimation import EstimationError

    try:
        estimates = estimator.estimate(scored, scored["score"].to_numpy())
    except EstimationError:
        return []  # nothing to estimate from (every flight of the day cancelled): the report says pending
    rows: list[dict] = []
    for metric, estimate in estimates.items():
        limit = performance_threshold(spec, holdout_score) if metric == spec.promotion.metric else None
        worse = limit is not None and past_limit(spec, estimate.value, limit)
        rows += [
            {
                "metric": f"estimated_{metric}",
                "feature": None,
                "value": estimate.value,
                "threshold": limit,
                "status": WARN if worse else (OK if limit is not None else INFO),
            },
            {
                "metric": f"estimated_{metric}_lower",
                "feature": None,
                "value": estimate.lower,
                "threshold": None,
                "status": INFO,
            },
            {
                "metric": f"estimated_{metric}_upper",
                "feature": None,
                "value": estimate.upper,
                "threshold": None,
                "status": INFO,
            },
        ]
    return rows


def report_value(report: pl.DataFrame, metric: str, feature: str | None = None, column: str = "value"):
    """One cell of a day's report: ``column`` of the row of ``metric`` (and ``feature``), or None."""
    rows = report.filter(
        (pl.col("metric") == metric)
        & (pl.col("feature").is_null() if feature is None else pl.col("feature") == feature)
    )
    return rows[column][0] if rows.height else None


def headline(report: pl.DataFrame, spec: ModelSpec) -> dict[str, float]:
    """Floats for Dagster metadata (plotted across partitions in the UI)."""

    def value(metric: str, feature: str | None = None) -> float | None:
        return report_value(report, metric, feature)

    psi = report.filter((pl.col("metric") == "psi") & (pl.col("feature") != "score"))["value"].drop_nulls()
    out = {
        "rows": value("row_count"),
        "rows_scored": value("rows_scored"),
        "cancelled_share": value("cancelled_share"),
        "max_feature_psi": float(psi.max()) if psi.len() else None,
        "drifting_features": float(report.filter(pl.col("status") == DRIFT)["feature"].n_unique()),
        "score_psi": value("psi", "score"),
        "latency_ms_per_100_p95": value("latency_ms_per_100_p95"),
        spec.promotion.metric: value(spec.promotion.metric),
        **{
            f"estimated_{spec.promotion.metric}{suffix}": value(f"estimated_{spec.promotion.metric}{suffix}")
            for suffix in ("", "_lower", "_upper")
        },
    }
    return {k: float(v) for k, v in out.items() if v is not None}


def _version_runs(by_day: pl.DataFrame) -> str:
    """Which version served which days, e.g. ``v1 2013-01-15..2013-01-17, v2 2013-01-18..2013-01-21``."""
    runs: list[list] = []
    for day, version in by_day.iter_rows():
        if runs and runs[-1][0] == version:
            runs[-1][2] = day
        else:
            runs.append([version, day, day])
    return ", ".join(f"v{v} {first}..{last}" for v, first, last in runs)


def _mean_against_limit(
    spec: ModelSpec, reports: pl.DataFrame, metric: str
) -> tuple[int, float | None, float | None, bool]:
    """(days with a value, their mean, the limit, whether the mean is past it) of a daily metric."""
    rows = reports.filter((pl.col("metric") == metric) & pl.col("value").is_not_null())
    if not rows.height:
        return 0, None, None, False
    mean, limit = float(rows["value"].mean()), float(rows["threshold"][0])
    return rows.height, mean, limit, past_limit(spec, mean, limit)


def summarize(spec: ModelSpec, reports: pl.DataFrame) -> dict:
    """One verdict on the version that serves now, over its days among the most recent
    ``SUMMARY_DAYS`` reports: drift > decay > ok.

    The serving version is the one that scored the latest day; days scored by an earlier version
    inside the window are not judged (their drift and performance belong to that version), and
    the summary says when the version changed. A feature counts as drifting when it drifted on at
    least half of the judged days (one odd day, a holiday say, is not a reason to retrain); decay
    is the mean daily score of the promotion metric, over the judged days whose labels have
    arrived, past the serving version's allowed drop. ``estimated_decay`` is the same test on the
    mean estimated score (known before labels): an early warning in the reason, and a decay verdict
    only when the spec sets ``monitoring.retrain_on_estimated_decay``.
    """
    window = sorted(reports["date"].unique().to_list())[-SUMMARY_DAYS:]
    by_day = (
        reports.filter(pl.col("date").is_in(window))
        .group_by("date")
        .agg(pl.col("model_version").max())
        .sort("date")
    )
    serving = int(by_day["model_version"][-1])
    days = by_day.filter(pl.col("model_version") == serving)["date"].to_list()
    recent = reports.filter(pl.col("date").is_in(days) & (pl.col("model_version") == serving))
    versions = _version_runs(by_day)
    drift_days = (
        recent.filter((pl.col("status") == DRIFT) & (pl.col("feature").is_not_null()))
        .group_by("feature")
        .agg(pl.col("date").n_unique().alias("days"))
        .sort("feature")
    )
    needed = max(1, (len(days) + 1) // 2)
    drifting = drift_days.filter(pl.col("days") >= needed)["feature"].to_list()
    labelled_days, mean_score, threshold, decayed = _mean_against_limit(spec, recent, spec.promotion.metric)
    decay_reason = (
        f"mean daily {spec.promotion.metric} {mean_score:.4f} over {labelled_days} labelled day(s) is past the limit "
        f"{threshold:.4f} (v{serving}'s holdout score, worse by at most {spec.monitoring.performance_drop})"
        if decayed
        else ""
    )
    estimated_days, estimated_score, estimated_limit, estimated_decay = _mean_against_limit(
        spec, recent, f"estimated_{spec.promotion.metric}"
    )
    estimated_reason = (
        f"estimated {spec.promotion.metric} (before labels) {estimated_score:.4f} over {estimated_days} day(s) "
        f"is past the limit {estimated_limit:.4f}"
        if estimated_decay
        else ""
    )
    if estimated_decay and not decayed and spec.monitoring.retrain_on_estimated_decay:
        decayed, decay_reason = True, estimated_reason + " (monitoring.retrain_on_estimated_decay)"
    judged = f"v{serving}'s last {len(days)} day(s)"
    # Drift names its cause (which inputs moved), so it leads when both hold; both mean "retrain".
    if drifting:
        verdict = DRIFT
        reason = f"feature(s) {drifting} drifted on at least {needed} of {judged}"
        reason += f"; also {decay_reason}" if decayed else ""
    elif decayed:
        verdict = DECAY
        reason = decay_reason
    else:
        verdict = OK
        reason = f"no feature drifted on {needed}+ of {judged}; performance within limits"
    if estimated_decay and estimated_reason not in reason:
        reason += f"; early warning: {estimated_reason}"
    if by_day["model_version"].n_unique() > 1:
        reason += f"; the serving version changed inside the window ({versions}): earlier days are not judged"
    return {
        "spec": spec.name,
        "window_start": days[0],
        "window_end": days[-1],
        "days": len(days),
        "model_version": serving,
        "verdict": verdict,
        "reason": reason,
        "drifting_features": ",".join(drifting),
        "mean_score": mean_score,
        "score_threshold": threshold,
        "labelled_days": labelled_days,
        "versions_in_window": versions,
        "estimated_score": estimated_score,
        "estimated_decay": estimated_decay,
    }
