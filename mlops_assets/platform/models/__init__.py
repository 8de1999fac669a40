"""Everything that belongs to one model, built by its ``ModelComponent``."""

from pathlib import Path

import dagster as dg

from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.platform import inference, monitoring
from mlops_assets.platform.models import assets
from mlops_assets.platform.models.assets import model_key
from mlops_assets.platform.run_resources import run_tags


def retrain_now_job(spec: ModelSpec):
    return dg.define_asset_job(
        f"retrain_{spec.name}_now",
        selection=dg.AssetSelection.assets(model_key(spec)),
        description=(
            f"Manual override: train '{spec.name}' now (the promotion gate still decides on champion). "
            "Say why in the launchpad's mlops/retrain_reason tag."
        ),
        tags={"mlops/trigger": "manual", "mlops/retrain_reason": "manual override", **run_tags("training")},
    )


def build_model_defs(spec: ModelSpec, spec_path: Path) -> dg.Definitions:
    """``models/<name>`` (contract + promotion), ``predictions/<name>``, ``monitoring/<name>/daily_report``
    and ``summary`` (each with its contract), and the launchpad job ``retrain_<name>_now``."""
    return dg.Definitions.merge(
        assets.build_defs(spec, spec_path),
        inference.build_defs(spec),
        monitoring.build_defs(spec),
        dg.Definitions(jobs=[retrain_now_job(spec)]),
    )
