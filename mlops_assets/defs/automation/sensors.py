"""Sensors: new data arrives, models retrain for a reason, failures alert.

Every run they request carries ``mlops/trigger`` (and ``mlops/retrain_reason`` with its
evidence for training), so the UI says why each automatic run happened.
"""

import json
import os
import dagster as dg

from mlops_assets.defs.automation.decisions import RetrainDecision, decide_retraining
from mlops_assets.defs.data.assets import DIMENSION_KEYS
from mlops_assets.defs.jobs import RAW_DAILY_KEYS
from mlops_assets.defs.models.assets import model_key
from mlops_assets.defs.run_resources import run_tags
from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.lib.tables import DIMENSION_TABLES
from mlops_assets.resources import LandingZoneResource, VersionedStoreResource
from mlops_assets.resources.alerts import AlertResource

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
]


def _mtime(path) -> int:
    return os.stat(path).st_mtime_ns


def _published_after(instance: dg.DagsterInstance, day: str, delivery_ns: int) -> bool:
    """A fresh cursor must not re-request days materialized since their files landed."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=RAW_DAILY_KEYS[0], asset_partitions=[day]), limit=1
    ).records
    return bool(records) and records[0].timestamp * 1e9 >= delivery_ns


@dg.sensor(
    name="landing_zone",
    description="Requests raw/flights and raw/weather for each newly landed (or re-delivered) day, once per delivery.",
    asset_selection=dg.AssetSelection.assets(*RAW_DAILY_KEYS, *DIMENSION_KEYS),
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZoneResource):
    from pathlib import Path

    from mlops_assets.lib.landing import landed_file

    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    directory = Path(landing.directory)
    requests = []
    for day in sorted(set(landing.days("flights")) & set(landing.days("weather"))):
        delivery = max(_mtime(landed_file(directory, t, day)) for t in ("flights", "weather"))
        if seen.get(day) == delivery or (day not in seen and _published_after(context.instance, day, delivery)):
            seen[day] = delivery
            continue
        seen[day] = delivery
        requests.append(dg.RunRequest(
            run_key=f"landed-{day}-{delivery}",
            partition_key=day,
            asset_selection=list(RAW_DAILY_KEYS),
            tags={"mlops/trigger": "landing_sensor", "mlops/landed_day": day, **run_tags("default")},
        ))
    dimension_files = [directory / "dimensions" / f"{t.name}.parquet" for t in DIMENSION_TABLES]
    if all(p.exists() for p in dimension_files):
        delivery = max(_mtime(p) for p in dimension_files)
        if seen.get("dimensions") != delivery:
            seen["dimensions"] = delivery
            requests.append(dg.RunRequest(
                run_key=f"dimensions-{delivery}", asset_selection=list(DIMENSION_KEYS),
                tags={"mlops/trigger": "landing_sensor", "mlops/landed": "dimensions", **run_tags("default")},
            ))
    if not requests:
        return dg.SkipReason("no newly landed day")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))


def build_retrain_sensor(specs: list[ModelSpec]) -> dg.SensorDefinition:
    @dg.sensor(
        name="retrain_models",
        description=(
            "Retrains a model when its monitoring summary says drift or decay on data it never saw, when it is "
            "older than its spec's max_model_age_days of new data, or when it has never been trained and enough "
            "data is published. Never while a run of it is in progress, never twice for the same evidence, and "
            "only on a day with new data."
        ),
        asset_selection=dg.AssetSelection.assets(*[model_key(s) for s in specs]),
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def retrain_sensor(context: dg.SensorEvaluationContext, store: VersionedStoreResource):
        state: dict[str, dict] = json.loads(context.cursor) if context.cursor else {}
        versioned = store.open()
        running = {
            key
            for record in context.instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS))
            for key in (record.dagster_run.asset_selection or [])
        }
        requests, skipped = [], []
        for spec in specs:
            decision: RetrainDecision = decide_retraining(
                spec, versioned, state.get(spec.name, {}), in_progress=model_key(spec) in running
            )
            state[spec.name] = decision.state
            if decision.reason is None:
                skipped.append(f"{spec.name}: {decision.why_not}")
                continue
            requests.append(dg.RunRequest(
                run_key=f"retrain-{spec.name}-{decision.evidence_key}",
                asset_selection=[model_key(spec)],
                tags={
                    "mlops/trigger": "retrain_sensor",
                    "mlops/retrain_reason": decision.reason,
                    "mlops/retrain_evidence": decision.evidence[:250],
                    "mlops/spec": spec.name,
                    **run_tags("training"),
                },
            ))
        if not requests:
            return dg.SensorResult(skip_reason="; ".join(skipped), cursor=json.dumps(state, sort_keys=True))
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(state, sort_keys=True))

    return retrain_sensor


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    description="Logs every failed run and POSTs it to MLOPS_ALERT_WEBHOOK_URL when set.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, alerts: AlertResource):
    run = context.dagster_run
    alerts.send({
        "event": "run_failure",
        "run_id": run.run_id,
        "job": run.job_name,
        "trigger": run.tags.get("mlops/trigger", "manual"),
        "retrain_reason": run.tags.get("mlops/retrain_reason"),
        "message": (context.failure_event.message or "")[:1000],
    })


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "automation_conditions",
        target=dg.AssetSelection.all(),
        run_tags={"mlops/trigger": "automation_condition"},
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=15,
    )


