"""The embedded instance's event log (``mlops_assets/embedded/event_log_storage.py``): Dagster's sqlite files
and schema, written through kept-open connections.

What must hold: the instance ``prepare-instance`` writes uses it; what it writes is what Dagster's
own ``SqliteEventLogStorage`` reads from the same directory (and the other way round), across
more run shards than it keeps open; an event it committed survives the writing process being
killed; a forked child does not use its parent's connections.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest
from dagster._core.events import (
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventType,
    StepMaterializationData,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from mlops_assets.embedded.event_log_storage import EVENT_BATCH_SIZE, OPEN_SHARDS, PooledSqliteEventLogStorage
from mlops_assets.instance import prepare_instance
from mlops_assets.settings import load_settings

ASSET = dg.AssetKey(["raw", "flights"])


def _entry(run_id: str, event_type: DagsterEventType, data: object) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level=10,
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        dagster_event=DagsterEvent(event_type.value, "job", event_specific_data=data),
    )


def _materialization(run_id: str, partition: str, version: str) -> EventLogEntry:
    materialization = dg.AssetMaterialization(
        ASSET, partition=partition, tags={"dagster/data_version": version}, metadata={"rows": 1.0}
    )
    return _entry(run_id, DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(materialization))


def _planned(run_id: str, asset: dg.AssetKey, partition: str) -> EventLogEntry:
    planned = AssetMaterializationPlannedData(asset, partition=partition)
    return _entry(run_id, DagsterEventType.ASSET_MATERIALIZATION_PLANNED, planned)


def _latest_versions(storage: SqliteEventLogStorage) -> dict[str, str]:
    records = storage.fetch_materializations(dg.AssetRecordsFilter(asset_key=ASSET), limit=10_000).records
    latest: dict[str, str] = {}
    for record in records:  # newest first
        latest.setdefault(record.partition_key, record.asset_materialization.tags["dagster/data_version"])
    return latest


def test_the_embedded_instance_writes_its_events_through_the_pooled_storage(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # prepare_instance sets it; restored after
    settings = load_settings({"MLOPS_HOME": str(tmp_path / "mlops")})
    home = prepare_instance(settings)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        # Dagster's own place for it, so an instance from before keeps its history.
        assert instance.event_log_storage._base_dir == str(home / "history" / "runs")
        dg.materialize([dg.asset(name="one")(lambda: 1)], instance=instance)
        assert instance.get_latest_materialization_event(dg.AssetKey("one")) is not None


def test_it_reads_and_writes_the_same_files_as_dagsters_own_storage_across_many_run_shards(tmp_path):
    runs = [f"run{i:02d}" for i in range(OPEN_SHARDS * 2 + 3)]  # more shards than it keeps open
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    for i, run_id in enumerate(runs):
        pooled.store_event(_materialization(run_id, f"2013-01-{i + 1:02d}", f"pooled-{i}"))
    stock = SqliteEventLogStorage(str(tmp_path))
    assert _latest_versions(stock) == {f"2013-01-{i + 1:02d}": f"pooled-{i}" for i in range(len(runs))}
    assert [len(stock.get_logs_for_run(run_id)) for run_id in runs] == [1] * len(runs)

    stock.store_event(_materialization(runs[0], "2013-01-01", "stock"))  # a shard it holds open
    assert _latest_versions(pooled)["2013-01-01"] == "stock"
    assert len(pooled.get_logs_for_run(runs[0])) == 2
    assert len(pooled._engines) <= OPEN_SHARDS
    pooled.dispose()
    stock.dispose()


def _what_readers_see(storage: SqliteEventLogStorage, run_id: str) -> dict[str, object]:
    record = storage.get_asset_records([ASSET])[0].asset_entry
    return {
        "versions": _latest_versions(storage),
        "materialized": storage.get_materialized_partitions(ASSET),
        "version_tags": storage.get_latest_tags_by_partition(
            ASSET, DagsterEventType.ASSET_MATERIALIZATION, ["dagster/data_version"]
        ),
        "last": (record.last_materialization.dagster_event.partition, record.last_run_id),  # ty: ignore[possibly-missing-attribute]
        "planned": storage.get_latest_planned_materialization_info(ASSET).run_id,  # ty: ignore[possibly-missing-attribute]
        "run_log": [
            (entry.dagster_event_type, entry.dagster_event.partition)  # ty: ignore[possibly-missing-attribute]
            for entry in storage.get_logs_for_run(run_id)
        ],
    }


def test_a_batch_is_stored_as_dagster_stores_its_events_one_by_one(tmp_path):
    """A batch (Dagster's: a run's planned events, a range's materializations) is one transaction
    per database; what any reader sees must be what Dagster's own storage writes event by event."""
    days = [f"2013-01-{d:02d}" for d in range(1, 8)]
    batches = [
        [_planned("run-a", ASSET, day) for day in days],
        [_materialization("run-a", day, f"v1-{day}") for day in days],
        # A later run plans two days and writes them, in one batch: each kind's last event counts.
        [
            *(_planned("run-b", ASSET, day) for day in days[2:4]),
            *(_materialization("run-b", day, f"v2-{day}") for day in reversed(days[2:4])),
        ],
    ]
    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    pooled = PooledSqliteEventLogStorage(str(tmp_path / "pooled"))
    for batch in batches:
        for event in batch:
            stock.store_event(event)
        pooled.store_event_batch(batch)

    seen = _what_readers_see(pooled, "run-a")
    assert seen == _what_readers_see(stock, "run-a")
    assert seen["versions"]["2013-01-03"] == "v2-2013-01-03"
    assert seen["last"] == ("2013-01-03", "run-b")
    assert _what_readers_see(pooled, "run-b") == _what_readers_see(stock, "run-b")
    stock.dispose()
    pooled.dispose()


def test_a_partition_range_run_writes_its_events_in_batches(tmp_path, monkeypatch):
    """The embedded instance turns Dagster's batching on: a range's planned events and its
    materializations (the asset's output and the contract check's record of main) are each one
    batch, not one transaction per day."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    home = prepare_instance(load_settings({"MLOPS_HOME": str(tmp_path / "mlops")}))
    batches: list[list[tuple[DagsterEventType, str | None]]] = []
    store_batch = PooledSqliteEventLogStorage.store_event_batch

    def observing(self, events) -> None:
        batches.append([(e.dagster_event_type, e.dagster_event.partition) for e in events])
        store_batch(self, events)

    monkeypatch.setattr(PooledSqliteEventLogStorage, "store_event_batch", observing)
    days = dg.DailyPartitionsDefinition(start_date="2013-01-01", end_date="2013-01-11")

    @dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
    def daily(context) -> None:
        assert len(context.partition_keys) == 10

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == str(EVENT_BATCH_SIZE)
        result = dg.materialize(
            [daily],
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2013-01-01",
                "dagster/asset_partition_range_end": "2013-01-10",
            },
        )
        assert result.success
        assert len(instance.get_materialized_partitions(dg.AssetKey("daily"))) == 10
    keys = days.get_partition_keys()
    planned = [(DagsterEventType.ASSET_MATERIALIZATION_PLANNED, day) for day in keys]
    materialized = [(DagsterEventType.ASSET_MATERIALIZATION, day) for day in keys]
    assert batches == [planned, materialized]


WRITER = """
import sys, time
sys.path.insert(0, sys.argv[2])
from tests.test_event_log_storage import _materialization
from mlops_assets.embedded.event_log_storage import PooledSqliteEventLogStorage

storage = PooledSqliteEventLogStorage(sys.argv[1])
for i in range(50):
    storage.store_event(_materialization("killed-run", f"p{i:02d}", f"v{i}"))
print("stored", flush=True)
time.sleep(60)
"""


def test_an_event_it_committed_survives_its_process_being_killed(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    writer = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", WRITER, str(tmp_path), root],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "stored"
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    stock = SqliteEventLogStorage(str(tmp_path))
    assert _latest_versions(stock) == {f"p{i:02d}": f"v{i}" for i in range(50)}
    assert len(stock.get_logs_for_run("killed-run")) == 50
    stock.dispose()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connections(tmp_path):
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    storage.store_event(_materialization("parent", "p0", "parent"))
    parents = dict(storage._engines)
    pid = os.fork()
    if pid == 0:  # the child: write, and say whether it reused its parent's engines
        code = 0
        try:
            storage.store_event(_materialization("child", "p1", "child"))
            code = 3 if any(storage._engines.get(k) is e for k, e in parents.items()) else 0
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _latest_versions(storage) == {"p0": "parent", "p1": "child"}
    storage.dispose()


def test_a_failed_run_is_marked_failed_and_tagged_for_retry_before_its_failure_event_is_readable(
    tmp_path, monkeypatch
):
    """The retry daemon acts on ``RUN_FAILURE`` events as it reads them: by then the run must be
    failed and carry its retry decision, or the daemon passes it by for good."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = prepare_instance(load_settings({"MLOPS_HOME": str(tmp_path / "mlops")}))
    seen_at_write: list[tuple[dg.DagsterRunStatus, str | None]] = []
    store = SqliteEventLogStorage.store_event

    with dg.DagsterInstance.from_config(str(home)) as instance:

        def observing_store(self, event: EventLogEntry) -> None:
            store(self, event)
            if event.dagster_event_type == DagsterEventType.RUN_FAILURE:
                run = instance.get_run_by_id(event.run_id)
                seen_at_write.append((run.status, run.tags.get("dagster/will_retry")))

        monkeypatch.setattr(SqliteEventLogStorage, "store_event", observing_store)

        @dg.asset
        def fails() -> None:
            raise RuntimeError("upstream file is gone")

        # A step that fails: not retried (the embedded instance's retry_on_asset_or_op_failure).
        result = dg.materialize([fails], instance=instance, raise_on_error=False)
        assert not result.success
        # A run whose worker died, failed by the run monitor: retried.
        orphan = instance.create_run_for_job(
            dg.define_asset_job("j", [fails]).resolve(
                asset_graph=dg.Definitions(assets=[fails]).resolve_asset_graph()
            )
        )
        instance.handle_run_event(orphan.run_id, DagsterEvent(DagsterEventType.RUN_START.value, "j"))
        instance.report_run_failed(instance.get_run_by_id(orphan.run_id), "the run worker is gone")

        assert seen_at_write == [
            (dg.DagsterRunStatus.FAILURE, "false"),
            (dg.DagsterRunStatus.FAILURE, "true"),
        ]
        for run_id, will_retry in [(result.run_id, "false"), (orphan.run_id, "true")]:
            run = instance.get_run_by_id(run_id)
            assert (run.status, run.tags["dagster/will_retry"]) == (dg.DagsterRunStatus.FAILURE, will_retry)
            assert (
                len(instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records) == 1
            )
