"""Automation: conditions, freshness policies, sensors and schedules (why runs happen, and what they say)."""

import dagster as dg

from mlops_assets.lib.model_spec import ModelSpec


def build_defs(specs: list[ModelSpec], branch_retention_days: float) -> dg.Definitions:
    from mlops_assets.platform.automation.retention import build_gc_branches
    from mlops_assets.platform.automation.sensors import (
        alert_on_run_failure,
        automation_sensors,
        build_retrain_sensor,
        build_serving_sensor,
        landing_sensor,
    )

    gc_branches, gc_branches_daily = build_gc_branches(branch_retention_days)
    return dg.Definitions(
        jobs=[gc_branches],
        schedules=[gc_branches_daily],
        sensors=[
            landing_sensor,
            build_retrain_sensor(specs),
            build_serving_sensor(specs),
            alert_on_run_failure,
            *automation_sensors(),
        ],
    )
