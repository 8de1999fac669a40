"""Automation: conditions, freshness policies and sensors (why runs happen, and what they say)."""

import dagster as dg

from mlops_assets.lib.model_spec import ModelSpec


def build_defs(specs: list[ModelSpec]) -> dg.Definitions:
    from mlops_assets.platform.automation.sensors import (
        alert_on_run_failure,
        automation_sensors,
        build_retrain_sensor,
        build_serving_sensor,
        landing_sensor,
    )

    return dg.Definitions(
        sensors=[
            landing_sensor,
            build_retrain_sensor(specs),
            build_serving_sensor(specs),
            alert_on_run_failure,
            *automation_sensors(),
        ]
    )
