"""Sensors: new data arrives, models retrain for a reason, failures alert.

Every run they request carries ``mlops/trigger`` (and ``mlops/retrain_reason`` with its
evidence for training), so the UI says why each automatic run happened.
"""

import json
import os

import dagster as dg

from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.lib.tables import DIMENSION_TABLES
from mlops_assets.lib.versioned_store import MAIN
from mlops_assets.lib.versioned_store.wap import published_partitions
from mlops_assets.platform.automation.decisions import RetrainDecision, decide_retraining
from mlops_assets.platform.data.assets import DIMENSION_KEYS, RAW_DAILY_JOB, RAW_DIMENSIONS_JOB
from mlops_assets.platform.features import FEATURES_KEY
from mlops_assets.platform.inference import predictions_key
from mlops_assets.platform.jobs import RAW_DAILY_KEYS
from mlops_assets.platform.models.assets import SERVES_FROM, model_key
from mlops_assets.platform.run_resources import run_tags
from mlops_assets.resources import LandingZoneResource, VersionedStoreResource
from mlops_assets.resources.alerts import AlertResource

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _mtime(path) -> int:
    return os.stat(path).st_mtime_ns


def _materialized_after(instance: dg.DagsterInstance, keys, partition: str | None, delivery_ns: int) -> bool:
    """A fresh cursor must not re-request what was materialized since its files landed."""
    for key in keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
        ).records
        if not records or records[0].timestamp * 1e9 < delivery_ns:
            return False
    return True


@dg.sensor(
    name="landing_zone",
    description=(
        "Requests raw/flights and raw/weather for each newly landed (or re-delivered) day, and the dimension "
        "tables when their files are re-delivered; once per delivery."
    ),
    jobs=[RAW_DAILY_JOB, RAW_DIMENSIONS_JOB],
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZoneResource):
    from pathlib import Path

    from mlops_assets.errors import LandingError
    from mlops_assets.lib.landing import landed_file

    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    directory = Path(landing.directory)

    def is_new(name: str, delivery: int, keys, partition: str | None) -> bool:
        new = seen.get(name) != delivery and not (
            name not in seen and _materialized_after(context.instance, keys, partition, delivery)
        )
        seen[name] = delivery
        return new

    requests = []
    for day in sorted(set(landing.days("flights")) & set(landing.days("weather"))):
        try:
            delivery = max(_mtime(landed_file(directory, t, day)) for t in ("flights", "weather"))
        except LandingError:
            continue  # two files for one day: the run would refuse it; wait for upstream to fix it
        if not is_new(day, delivery, RAW_DAILY_KEYS, day):
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"landed-{day}-{delivery}",
                job_name=RAW_DAILY_JOB.name,
                partition_key=day,
                tags={"mlops/trigger": "landing_sensor", "mlops/landed_day": day, **run_tags("default")},
            )
        )
    try:
        dimension_files = [landed_file(directory, t.name, None) for t in DIMENSION_TABLES]
    except LandingError:
        dimension_files = []  # not all delivered yet (or ambiguous): nothing to request
    if dimension_files:
        delivery = max(_mtime(p) for p in dimension_files)
        if is_new("dimensions", delivery, DIMENSION_KEYS, None):
            requests.append(
                dg.RunRequest(
                    run_key=f"dimensions-{delivery}",
                    job_name=RAW_DIMENSIONS_JOB.name,
                    tags={
                        "mlops/trigger": "landing_sensor",
                        "mlops/landed": "dimensions",
                        **run_tags("default"),
                    },
                )
            )
    if not requests:
        return dg.SensorResult(skip_reason="no newly landed file", cursor=json.dumps(seen, sort_keys=True))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))


def build_retrain_sensor(specs: list[ModelSpec]) -> dg.SensorDefinition:
    @dg.sensor(
        name="retrain_models",
        description=(
            "Retrains a model when its monitoring summary says drift or decay on data it never saw, when it is "
            "older than its spec's max_model_age_days of new data, or when it has never been trained and enough "
            "data is published. Never while a run of it is in progress, never twice for the same evidence, and "
            "only when a new day's features or its monitoring summary are published."
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
        requests, skipped, failed = [], [], []
        for spec in specs:
            try:
                decision: RetrainDecision = decide_retraining(
                    spec, versioned, state.get(spec.name, {}), in_progress=model_key(spec) in running
                )
            except Exception as exc:  # one model's failure must not stop the evaluation of the others
                failed.append(f"{spec.name}: evaluation failed ({type(exc).__name__}: {exc})")
                context.log.exception(
                    f"retrain_models: models/{spec.name} could not be evaluated; its state is kept and it is "
                    "evaluated again next tick; the other models were evaluated"
                )
                continue
            state[spec.name] = decision.state
            if decision.reason is None:
                skipped.append(f"{spec.name}: {decision.why_not}")
                continue
            requests.append(
                dg.RunRequest(
                    run_key=f"retrain-{spec.name}-{decision.evidence_key}",
                    asset_selection=[model_key(spec)],
                    tags={
                        "mlops/trigger": "retrain_sensor",
                        "mlops/retrain_reason": decision.reason,
                        "mlops/retrain_evidence": decision.evidence[:250],
                        "mlops/spec": spec.name,
                        **run_tags("training"),
                    },
                )
            )
        if not requests:
            return dg.SensorResult(
                skip_reason="; ".join([*failed, *skipped]), cursor=json.dumps(state, sort_keys=True)
            )
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(state, sort_keys=True))

    return retrain_sensor


def _contiguous(days: list[str]) -> list[tuple[str, str]]:
    """Runs of consecutive ISO days, as (first, last) pairs."""
    from datetime import date, timedelta

    runs: list[tuple[str, str]] = []
    for day in days:
        if runs and date.fromisoformat(runs[-1][1]) + timedelta(days=1) == date.fromisoformat(day):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def build_serving_sensor(specs: list[ModelSpec]) -> dg.SensorDefinition:
    @dg.sensor(
        name="serve_new_models",
        description=(
            "When a model version is trained, scores the published days after its training window that no "
            "version has scored yet (one run per contiguous range). Its training days are not new traffic "
            "and are not scored, unless the spec sets serving.score_training_window. Later days are scored "
            "by the automation conditions as they land."
        ),
        asset_selection=dg.AssetSelection.assets(*[predictions_key(s) for s in specs]),
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def serve_sensor(context: dg.SensorEvaluationContext, store: VersionedStoreResource):
        handled: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        versioned = None
        requests, waiting = [], []
        for spec in specs:
            record = next(
                iter(context.instance.fetch_materializations(model_key(spec), limit=1).records), None
            )
            if record is None or handled.get(spec.name) == record.storage_id:
                continue
            run = context.instance.get_run_by_id(record.run_id)
            if run is not None and not run.is_finished:
                waiting.append(spec.name)  # its promotion gate has not decided yet
                continue
            handled[spec.name] = record.storage_id
            serves_from = record.asset_materialization.metadata.get(SERVES_FROM)
            if serves_from is None:
                continue
            versioned = versioned or store.open()
            scored = set(published_partitions(versioned, MAIN, predictions_key(spec).path))
            first = "" if spec.serving.score_training_window else serves_from.value
            todo = [
                d
                for d in published_partitions(versioned, MAIN, FEATURES_KEY.path)
                if d >= first and d not in scored
            ]
            for start, end in _contiguous(todo):
                requests.append(
                    dg.RunRequest(
                        run_key=f"serve-{spec.name}-{record.storage_id}-{start}",
                        asset_selection=[predictions_key(spec)],
                        tags={
                            "mlops/trigger": "serve_new_models",
                            "mlops/spec": spec.name,
                            "dagster/asset_partition_range_start": start,
                            "dagster/asset_partition_range_end": end,
                            **run_tags("scoring"),
                        },
                    )
                )
        cursor = json.dumps(handled, sort_keys=True)
        if not requests:
            reason = f"waiting for the promotion of {waiting}" if waiting else "no new model version to serve"
            return dg.SensorResult(skip_reason=reason, cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return serve_sensor


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    description="Logs every failed run and POSTs it to MLOPS_ALERT_WEBHOOK_URL when set.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, alerts: AlertResource):
    run = context.dagster_run
    alerts.send(
        {
            "event": "run_failure",
            "run_id": run.run_id,
            "job": run.job_name,
            "trigger": run.tags.get("mlops/trigger", "manual"),
            "retrain_reason": run.tags.get("mlops/retrain_reason"),
            "message": (context.failure_event.message or "")[:1000],
        }
    )


def automation_sensors() -> list[dg.AutomationConditionSensorDefinition]:
    """Declarative automation: the daemon evaluates every condition, except the one written in Python
    (features waits until a day's raw data is published), which runs in the code location."""
    in_code = dg.AssetSelection.assets(FEATURES_KEY)
    return [
        dg.AutomationConditionSensorDefinition(
            "automation_conditions",
            target=dg.AssetSelection.all() - in_code,
            run_tags={"mlops/trigger": "automation_condition"},
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=15,
        ),
        dg.AutomationConditionSensorDefinition(
            "feature_automation",
            target=in_code,
            run_tags={"mlops/trigger": "automation_condition"},
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=15,
            use_user_code_server=True,
        ),
    ]
