"""The Model Operations Center: "are all our models healthy today?", one row per model.

``model_health`` reduces what the platform already published about one model (its rolling
summary, its most recent daily reports, its reference table of trained versions) and the
champion alias to one row of ``OVERVIEW_COLUMNS``; ``state`` is the answer in one word.
Plain polars, no Dagster: the ``monitoring/overview`` asset reads the inputs at one commit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from mlops_assets.lib.lazy_polars import UTC_DATETIME, Columns, pl
from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.lib.monitoring import report_value as _value

HEALTHY, WARNING, DRIFTING, DECAYING, NO_DATA = "healthy", "warning", "drifting", "decaying", "no data"
STATES = [HEALTHY, WARNING, DRIFTING, DECAYING, NO_DATA]
_ALERTING = ("warn", "drift", "decay")

OVERVIEW_COLUMNS = Columns(
    {
        "spec": "String",
        "task": "String",
        "metric": "String",
        "state": "String",
        "verdict": "String",
        "reason": "String",
        "champion_version": "Int64",
        "serving_version": "Int64",
        # Days of data between the end of the champion's training window and the latest monitored day.
        "champion_age_days": "Int64",
        "last_trained_version": "Int64",
        "last_trained_at": UTC_DATETIME,
        "last_retrain_trigger": "String",
        "last_retrain_reason": "String",
        "latest_day": "Date",
        "rows_scored": "Float64",
        "volume_floor": "Float64",
        "volume_alert": "Boolean",
        "latency_ms_per_100_p50": "Float64",
        "latency_ms_per_100_p95": "Float64",
        "holdout_score": "Float64",
        "realized_score": "Float64",
        "realized_day": "Date",
        "estimated_score": "Float64",
        "estimated_lower": "Float64",
        "estimated_upper": "Float64",
        "data_quality_warnings": "Int64",
        "drifting_features": "String",
        "open_alerts": "String",
        "n_open_alerts": "Int64",
    }
)


def model_health(
    spec: ModelSpec,
    summary: dict | None,
    reports: pl.DataFrame | None,
    versions: pl.DataFrame | None,
    champion_version: int | None,
) -> dict:
    """One model's row of the overview.

    ``summary``: its summary row (``None`` before the first); ``reports``: its most recent daily
    reports (long format); ``versions``: its reference table (one row per trained version).
    """
    metric = spec.promotion.metric
    row: dict = {c: None for c in OVERVIEW_COLUMNS} | {"spec": spec.name, "task": spec.task, "metric": metric}
    alerts: list[str] = []
    if champion_version is None:
        alerts.append("no champion")
    row["champion_version"] = champion_version
    if versions is not None and versions.height:
        last = versions.sort("model_version").row(-1, named=True)
        row |= {
            "last_trained_version": last["model_version"],
            "last_trained_at": datetime.fromtimestamp(last["trained_at"], UTC),
            "last_retrain_trigger": last.get("trigger"),
            "last_retrain_reason": last.get("retrain_reason"),
        }
    champion = (
        versions.filter(pl.col("model_version") == champion_version).to_dicts()
        if versions is not None and champion_version is not None
        else []
    )
    if champion:
        row["holdout_score"] = champion[0]["holdout_score"]
    if reports is None or not reports.height:
        return row | {
            "state": NO_DATA,
            "open_alerts": "; ".join([*alerts, "no report yet"]),
            "n_open_alerts": len(alerts) + 1,
        }

    latest = reports["date"].max()
    day = reports.filter(pl.col("date") == latest)
    row |= {
        "latest_day": latest,
        "serving_version": int(day["model_version"].max()),
        "rows_scored": _value(day, "rows_scored"),
        "volume_floor": _value(day, "row_count", column="threshold"),
        "volume_alert": _value(day, "row_count", column="status") == "warn",
        "latency_ms_per_100_p50": _value(day, "latency_ms_per_100_p50"),
        "latency_ms_per_100_p95": _value(day, "latency_ms_per_100_p95"),
        "estimated_score": _value(day, f"estimated_{metric}"),
        "estimated_lower": _value(day, f"estimated_{metric}_lower"),
        "estimated_upper": _value(day, f"estimated_{metric}_upper"),
    }
    if champion:
        row["champion_age_days"] = (latest - date.fromisoformat(champion[0]["holdout_end"])).days
    realized = reports.filter(
        (pl.col("metric") == metric) & pl.col("feature").is_null() & pl.col("value").is_not_null()
    ).sort("date")
    if realized.height:
        row |= {"realized_score": realized["value"][-1], "realized_day": realized["date"][-1]}

    quality = day.filter(pl.col("feature").is_not_null() & (pl.col("status") == "warn"))
    row["data_quality_warnings"] = quality.height
    alerts += [
        f"{r['metric']}{'(' + r['feature'] + ')' if r['feature'] else ''}: {r['status']}"
        for r in day.filter(pl.col("status").is_in(_ALERTING)).sort("metric", "feature").iter_rows(named=True)
    ]
    verdict = summary["verdict"] if summary else None
    if summary:
        row |= {
            "verdict": verdict,
            "reason": summary["reason"],
            "drifting_features": summary["drifting_features"] or None,
        }
        if verdict in ("drift", "decay"):
            alerts.insert(0, f"summary: {verdict}")
    state = {"drift": DRIFTING, "decay": DECAYING}.get(verdict or "", WARNING if alerts else HEALTHY)
    return row | {"state": state, "open_alerts": "; ".join(alerts) or None, "n_open_alerts": len(alerts)}


def overview_table(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=OVERVIEW_COLUMNS).sort("spec")
