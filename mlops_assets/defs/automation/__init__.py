"""Automation: conditions, freshness policies and sensors (why runs happen, and what they say)."""

import dagster as dg

from mlops_assets.lib.model_spec import ModelSpec


def build_defs(specs: list[ModelSpec]) -> dg.Definitions:
    from mlops_assets.defs.automation.sensors import (
        alert_on_run_failure,
        automation_sensor,
        build_retrain_sensor,
        landing_sensor,
    )

    return dg.Definitions(
        sensors=[landing_sensor, build_retrain_sensor(specs), alert_on_run_failure, automation_sensor()]
    )
