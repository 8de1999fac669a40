"""The automation loop with the real webserver and daemon: a day lands whose schedules drifted, its
daily report flags it, the summary says drift, the retrain sensor (nobody else) trains a new version,
the promotion gate decides, and the next ticks of the sensor request no second retrain."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from mlops_assets.errors import MlopsError
from mlops_assets.instance import prepare_instance
from mlops_assets.lib.landing import land_days
from mlops_assets.lib.model_spec import ModelSpec, load_spec
from mlops_assets.lib.monitoring import DECAY, DRIFT
from mlops_assets.lib.tracking import CHAMPION, Tracker
from mlops_assets.lib.training import better_or_equal
from mlops_assets.lib.versioned_store import MAIN, LocalStore
from mlops_assets.lib.versioned_store.wap import read_table, table_path
from mlops_assets.platform.automation.sensors import build_retrain_sensor
from mlops_assets.platform.models.assets import model_key
from mlops_assets.platform.monitoring import report_key, summary_key
from mlops_assets.settings import MODELS_DIR, load_settings
from tests.conftest import QUIET, RANGE_END, RANGE_START, build_world
from tests.dagster_dev import dagster_dev, log_tail, wait_for

# `make test-extended`, run by CI after `make test`: the loop under the real daemon takes minutes.
# Bounded by its waits: start 180 s, the loop to the retrain 600 s, the training 600 s, two ticks 420 s.
pytestmark = [pytest.mark.slow, pytest.mark.extended, pytest.mark.timeout(2100)]

# v1 trains on these three weeks and LAST is its first new day; v1 holds up on LAST once its labels
# land with the next day (no decay), so the drifted day is the only reason to retrain.
FIRST, LAST = "2013-03-08", "2013-03-28"
DRIFTED_DAY = (date.fromisoformat(LAST) + timedelta(days=1)).isoformat()
SHIFT_MINUTES = 150
# Every scheduled arrival moves later, so each flight's scheduled block time grows: that feature drifts.
SHIFTED_FEATURE = "sched_block_minutes"
RETRAIN_TRIGGER = {"mlops/trigger": "retrain_sensor"}


def _shift_scheduled_arrivals(path: Path, minutes: int) -> None:
    """Upstream changes its schedules: every scheduled arrival (HHMM) ``minutes`` later, wrapping at midnight."""
    arrival = (pl.col("sched_arr_time") // 100 * 60 + pl.col("sched_arr_time") % 100 + minutes) % 1440
    pl.read_parquet(path).with_columns(
        (arrival // 60 * 100 + arrival % 60)
        .cast(pl.read_parquet_schema(path)["sched_arr_time"])
        .alias("sched_arr_time")
    ).write_parquet(path)


def _deliver_drifted_day(settings, scratch: Path, day: str) -> None:
    """Upstream prepares the day aside, then delivers each file whole (a rename), flights last."""
    land_days(scratch, date.fromisoformat(day), date.fromisoformat(day))
    _shift_scheduled_arrivals(scratch / "flights" / f"{day}.parquet", SHIFT_MINUTES)
    for table in ("weather", "flights"):
        os.replace(scratch / table / f"{day}.parquet", settings.landing_dir / table / f"{day}.parquet")


def _check_evaluation(instance: dg.DagsterInstance, key: dg.AssetKey, check: str, run_id: str):
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(key, check), limit=100
    )
    found = [record.evaluation for record in history if record.run_id == run_id and record.evaluation]
    assert found, f"no evaluation of {key.to_user_string()}:{check} in run {run_id}"
    return found[0]


def _retrain_ticks(instance: dg.DagsterInstance, sensor_name: str, after: float) -> list:
    """The retrain sensor's completed ticks after ``after`` (a timestamp), oldest first."""
    states = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.instigator_name == sensor_name
    ]
    ticks = [
        tick
        for state in states
        for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)
        if tick.status != TickStatus.STARTED
    ]
    return sorted(ticks, key=lambda tick: tick.timestamp)


def _drifting_features(report: pl.DataFrame) -> set[str]:
    return set(report.filter((pl.col("status") == DRIFT) & pl.col("feature").is_not_null())["feature"])


def test_a_drifted_day_retrains_its_model_once_by_the_sensor_and_the_gate_decides(tmp_path, monkeypatch):
    models = tmp_path / "models"  # one spec keeps the loop to minutes; the spec itself is the shipped one
    shutil.copytree(MODELS_DIR / "late_arrival", models / "late_arrival")
    spec: ModelSpec = load_spec(models / "late_arrival")
    assert SHIFTED_FEATURE in spec.features and SHIFTED_FEATURE not in spec.monitoring.drift_exempt
    home = tmp_path / "mlops"
    environ = {"MLOPS_HOME": str(home), "MLOPS_MODELS_DIR": str(models)}
    settings = load_settings(environ)
    dagster_home = prepare_instance(settings)  # the embedded instance `make dev` uses
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    store = LocalStore(settings.local_store_dir)
    tracker = Tracker(settings.mlflow_tracking_uri.get_secret_value())
    sensor_name = build_retrain_sensor([spec]).name
    log = tmp_path / "dagster-dev.log"

    with dg.DagsterInstance.get() as instance:
        # The world as the daemon finds it: v1 trained and champion, its first new day scored and monitored.
        defs = build_world(settings, instance, FIRST, LAST)
        assert (
            defs.resolve_job_def("train_models")
            .execute_in_process(instance=instance, run_config=QUIET)
            .success
        )
        daily = defs.resolve_job_def("daily_assets")
        assert daily.execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags={RANGE_START: LAST, RANGE_END: LAST},
            asset_selection=[
                k
                for k in daily.asset_layer.executable_asset_keys
                if k.path[0] in ("predictions", "monitoring")
            ],
        ).success
        assert (
            defs.resolve_job_def("monitoring_summaries")
            .execute_in_process(instance=instance, run_config=QUIET)
            .success
        )
        v1 = read_table(store, MAIN, table_path(model_key(spec).path, None)).row(-1, named=True)
        before = read_table(store, MAIN, table_path(summary_key(spec).path, None)).row(-1, named=True)
        assert before["verdict"] == "ok", (
            f"the world must start healthy, so only the drift retrains: {before}"
        )
        assert int(tracker.version_with_alias(spec.name, CHAMPION).version) == int(v1["model_version"])
        watermark = instance.event_log_storage.get_maximum_record_id() or 0

        env = {**os.environ, **environ, "DAGSTER_HOME": str(dagster_home)}

        def explain() -> str:
            """What the loop shows now: the summary on main, the sensor's last word, the server log."""
            try:
                summary = read_table(store, MAIN, table_path(summary_key(spec).path, None)).row(
                    -1, named=True
                )
            except MlopsError as exc:
                summary = f"unreadable: {exc}"
            ticks = _retrain_ticks(instance, sensor_name, after=0)[-3:]
            said = [(t.status.value, t.skip_reason, list(t.run_ids)) for t in ticks]
            return f"summary on main: {summary}\nlast {sensor_name} ticks: {said}\ndagster dev log tail:\n{log_tail(log)}"

        with dagster_dev(env, log):
            # Upstream delivers one day whose schedules moved. Nobody launches anything from here on.
            landed_at = time.time()
            _deliver_drifted_day(settings, tmp_path / "upstream", DRIFTED_DAY)

            retrain_filter = dg.RunsFilter(tags={**RETRAIN_TRIGGER, "mlops/spec": spec.name})
            retrain = wait_for(
                lambda: next(iter(instance.get_runs(retrain_filter)), None),
                f"the retrain sensor launching models/{spec.name} after {DRIFTED_DAY} landed",
                600,
                interval=5,
                explain=explain,
            )
            retrain = wait_for(
                lambda: (run := instance.get_run_by_id(retrain.run_id)).is_finished and run,
                f"retrain run {retrain.run_id} finishing",
                600,
                interval=5,
                explain=explain,
            )
            assert retrain.status == dg.DagsterRunStatus.SUCCESS, explain()

            def settled_ticks() -> list | None:
                """Two completed retrain ticks after every run the landing caused had finished."""
                records = instance.get_run_records(
                    dg.RunsFilter(created_after=datetime.fromtimestamp(landed_at, tz=UTC))
                )
                if any(not record.dagster_run.is_finished for record in records):
                    return None
                quiet_since = max(record.end_time or 0 for record in records)
                ticks = _retrain_ticks(instance, sensor_name, after=quiet_since)
                return ticks if len(ticks) >= 2 else None

            later_ticks = wait_for(
                settled_ticks,
                f"two {sensor_name} ticks after the loop settled",
                420,
                interval=5,
                explain=explain,
            )

        # 1. The day landed and its chain ran by itself; its report flagged the shifted feature, and
        #    the summary that the retrain names as evidence said drift over that day.
        runs = instance.get_runs(dg.RunsFilter(created_after=datetime.fromtimestamp(landed_at, tz=UTC)))
        triggers = Counter(run.tags.get("mlops/trigger", "none (manual)") for run in runs)
        print(
            {
                "runs since landing": dict(triggers),
                "retrain run": {k: v for k, v in retrain.tags.items() if k.startswith("mlops/")},
            }
        )
        assert set(triggers) <= {
            "landing_sensor",
            "automation_condition",
            "retrain_sensor",
            "serve_new_models",
        }, triggers
        failed = [
            (run.job_name, run.tags.get("mlops/trigger"))
            for run in runs
            if run.status != dg.DagsterRunStatus.SUCCESS
        ]
        assert not failed, f"runs of the loop that did not succeed: {failed}"

        def trigger_of(key: dg.AssetKey, partition: str | None = None) -> str | None:
            record = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=key,
                    asset_partitions=[partition] if partition else None,
                    after_storage_id=watermark,
                ),
                limit=1,
                ascending=True,
            ).records
            assert record, f"{key.to_user_string()} {partition or ''} was not materialized after the landing"
            return instance.get_run_by_id(record[0].run_id).tags.get("mlops/trigger")

        assert trigger_of(dg.AssetKey(["raw", "flights"]), DRIFTED_DAY) == "landing_sensor"
        assert trigger_of(report_key(spec), DRIFTED_DAY) == "automation_condition"
        assert trigger_of(summary_key(spec)) == "automation_condition"

        evidence = retrain.tags["mlops/retrain_evidence"]
        drift_summaries = [
            record
            for record in instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=summary_key(spec), after_storage_id=watermark), limit=100
            ).records
            if record.asset_materialization.metadata["reason"].value[:250] == evidence
        ]
        assert drift_summaries, f"no summary materialized after the landing gave the evidence {evidence!r}"
        published_at = (
            _check_evaluation(instance, summary_key(spec), "contract", drift_summaries[-1].run_id)
            .metadata["main_commit_id"]
            .value
        )
        summary = read_table(store, published_at, table_path(summary_key(spec).path, None)).row(
            -1, named=True
        )
        assert summary["verdict"] == DRIFT, summary
        assert summary["model_version"] == v1["model_version"]
        assert summary["window_end"].isoformat() == DRIFTED_DAY
        assert summary["window_start"].isoformat() > v1["holdout_end"], "drift on data v1 never saw"
        assert SHIFTED_FEATURE in summary["drifting_features"].split(","), summary
        report = read_table(store, published_at, table_path(report_key(spec).path, DRIFTED_DAY))
        assert report["model_version"].unique().to_list() == [v1["model_version"]]
        assert SHIFTED_FEATURE in _drifting_features(report), report.filter(pl.col("status") == DRIFT)
        # The day before, as delivered, neither drifted nor decayed once its labels arrived.
        previous = read_table(store, MAIN, table_path(report_key(spec).path, LAST))
        assert previous.filter(pl.col("status").is_in([DRIFT, DECAY])).is_empty(), previous

        # 2. The retrain sensor, not a person, trained a new version for that reason, and registered it.
        assert retrain.tags["mlops/trigger"] == "retrain_sensor"
        assert retrain.tags["mlops/retrain_reason"] == DRIFT
        assert evidence and SHIFTED_FEATURE in evidence
        assert retrain.asset_selection == {model_key(spec)}
        trained = _check_evaluation(instance, model_key(spec), "promotion", retrain.run_id)
        v2 = int(trained.metadata["challenger_version"].value)
        assert v2 == int(v1["model_version"]) + 1
        reference = read_table(store, MAIN, table_path(model_key(spec).path, None)).row(-1, named=True)
        assert (reference["model_version"], reference["trigger"], reference["retrain_reason"]) == (
            v2,
            "retrain_sensor",
            DRIFT,
        )
        registered = sorted(
            int(v.version) for v in tracker.client().search_model_versions(f"name='{spec.name}'")
        )
        assert registered == [int(v1["model_version"]), v2]
        lineage = tracker.lineage(spec.name, str(v2))
        assert lineage["tags"]["mlops.trigger"] == "retrain_sensor"
        assert lineage["tags"]["mlops.retrain_reason"] == DRIFT

        # 3. The promotion gate decided by its rule, and MLflow's champion alias says the same.
        gate = {k: v.value for k, v in trained.metadata.items()}
        print({"promotion": gate})
        assert int(gate["champion_version"]) == int(v1["model_version"])
        promoted = better_or_equal(spec, gate["challenger_score"], gate["champion_score"])
        assert trained.passed == promoted
        assert gate["decision"].startswith("promoted" if promoted else "rejected"), gate
        assert lineage["tags"]["mlops.promotion"] == gate["decision"]
        champion = int(tracker.version_with_alias(spec.name, CHAMPION).version)
        assert champion == (v2 if promoted else int(v1["model_version"]))

        # 4. Later ticks of the retrain sensor, with the loop settled, requested nothing.
        assert [run.run_id for run in instance.get_runs(retrain_filter)] == [retrain.run_id]
        assert all(tick.status == TickStatus.SKIPPED and not tick.run_ids for tick in later_ticks), [
            (tick.status.value, tick.skip_reason) for tick in later_ticks
        ]
        print({"later ticks": [tick.skip_reason for tick in later_ticks]})
