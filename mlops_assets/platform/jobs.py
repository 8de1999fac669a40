"""Jobs over every model a person launches from the UI (automation requests the same selections).

Each model's own launchpad job (``retrain_<name>_now``) comes with its component."""

import dagster as dg

from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.platform.features import FEATURES_KEY
from mlops_assets.platform.inference import predictions_key
from mlops_assets.platform.monitoring import report_key, summary_key
from mlops_assets.platform.monitoring.daily_reports import DAILY_REPORTS_KEY
from mlops_assets.platform.monitoring.overview import OVERVIEW_KEY
from mlops_assets.platform.run_resources import run_tags

RAW_DAILY_KEYS = [dg.AssetKey(["raw", "flights"]), dg.AssetKey(["raw", "weather"])]


def daily_keys(specs: list[ModelSpec]) -> list[dg.AssetKey]:
    """Every daily-partitioned asset, upstream first."""
    return [
        *RAW_DAILY_KEYS,
        FEATURES_KEY,
        *[predictions_key(s) for s in specs],
        *[report_key(s) for s in specs],
        DAILY_REPORTS_KEY,
    ]


def build_defs(specs: list[ModelSpec]) -> dg.Definitions:
    return dg.Definitions(
        jobs=[
            dg.define_asset_job(
                "daily_assets",
                selection=dg.AssetSelection.assets(*daily_keys(specs)),
                description="Every daily asset for a day or a range (a range runs as one run per backfill policy).",
                tags=run_tags("scoring"),
            ),
            dg.define_asset_job(
                "train_models",
                selection=dg.AssetSelection.groups("models"),
                description="Train every model spec on its window, register it, and run the promotion gate.",
                tags=run_tags("training"),
            ),
            dg.define_asset_job(
                "rebuild_monitoring",
                selection=dg.AssetSelection.assets(*[report_key(s) for s in specs], DAILY_REPORTS_KEY),
                description="Recompute the daily monitoring reports of a range (launch it as a backfill of the range).",
                tags={"mlops/trigger": "manual", **run_tags("default")},
            ),
            dg.define_asset_job(
                "dbt_marts",
                selection=dg.AssetSelection.groups("dbt"),
                description=(
                    "Rebuild the analysts' dbt models for a day or a range from what main publishes now "
                    "(incremental marts replace exactly that range; dbt tests run as checks)."
                ),
                tags={"mlops/trigger": "manual", **run_tags("default")},
            ),
            dg.define_asset_job(
                "monitoring_summaries",
                selection=dg.AssetSelection.assets(*[summary_key(s) for s in specs], OVERVIEW_KEY),
                description=(
                    "Recompute each spec's rolling monitoring verdict from the published daily reports, "
                    "then the overview of every model (monitoring/overview)."
                ),
                tags=run_tags("default"),
            ),
        ]
    )
