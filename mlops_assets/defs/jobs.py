"""Jobs a person launches from the UI (automation requests the same selections)."""

import dagster as dg

from mlops_assets.defs.features import FEATURES_KEY

DAILY_KEYS = [dg.AssetKey(["raw", "flights"]), dg.AssetKey(["raw", "weather"]), FEATURES_KEY]


def build_defs() -> dg.Definitions:
    return dg.Definitions(
        jobs=[
            dg.define_asset_job(
                "daily_assets",
                selection=dg.AssetSelection.assets(*DAILY_KEYS),
                description="Every daily asset for a day or a range (a range runs as one run per backfill policy).",
            ),
            dg.define_asset_job(
                "train_models",
                selection=dg.AssetSelection.groups("models"),
                description="Train every model spec on its window, register it, and run the promotion gate.",
                tags={"mlops/kind": "training"},
            ),
        ]
    )
