"""Raw daily assets: exact row counts, ranges in one run, WAP publication and data versions."""

from __future__ import annotations

import dagster as dg

from mlops_assets.lib.versioned_store.wap import read_table, table_path
from tests.conftest import data_version, expected_rows, land, run_daily

FLIGHTS = dg.AssetKey(["raw", "flights"])
WEATHER = dg.AssetKey(["raw", "weather"])


def test_one_day_publishes_the_exact_rows_of_that_day(settings, defs, instance, store):
    land(settings, "2013-02-14", "2013-02-14")
    result = run_daily(defs, instance, "2013-02-14")
    assert result.success

    for key, table in ((FLIGHTS, "flights"), (WEATHER, "weather")):
        published = read_table(store, "main", table_path(key.path, "2013-02-14"))
        assert published.height == expected_rows(table, "2013-02-14")
        assert published.filter(published["day"] != 14).height == 0

    mat = instance.get_latest_materialization_event(FLIGHTS).asset_materialization
    assert mat.partition == "2013-02-14"
    assert mat.metadata["rows"].value == float(expected_rows("flights", "2013-02-14"))
    # The commit id of the staged data is in the metadata, and the check says where main now is.
    branch_commit = mat.metadata["branch_commit_id"].value
    assert store.get_commit(branch_commit).metadata["partitions"] == "2013-02-14"
    evaluations = {e.asset_key: e for e in result.get_asset_check_evaluations() if e.check_name == "contract"}
    assert evaluations[FLIGHTS].passed
    assert evaluations[FLIGHTS].metadata["main_commit_id"].value in {c.id for c in store.log("main")}


def test_seven_day_range_runs_as_a_single_run(settings, defs, instance, store):
    land(settings, "2013-03-01", "2013-03-07")
    result = run_daily(defs, instance, "2013-03-01", "2013-03-07")
    assert result.success
    runs = instance.get_runs()
    assert len(runs) == 1

    mats = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    # Each partition: the step's materialization (staged), then the check's (published to main).
    flights = sorted(m.partition for m in mats if m.asset_key == FLIGHTS)
    assert flights == sorted([f"2013-03-0{d}" for d in range(1, 8)] * 2)
    assert (
        sorted(m.partition for m in mats if m.asset_key == FLIGHTS and m.metadata.get("published"))
        == flights[::2]
    )
    for mat in mats:
        if mat.asset_key == FLIGHTS:
            assert mat.metadata["rows"].value == float(expected_rows("flights", mat.partition))
    published = {o.path for o in store.list_objects("main", "raw/flights/")}
    assert published == {table_path(FLIGHTS.path, f"2013-03-0{d}") for d in range(1, 8)}


def test_a_range_writes_the_steps_days_as_one_batch_and_the_checks_through_log_event(
    settings, defs, instance, store, monkeypatch
):
    """With Dagster's batching on (the embedded and the production instances turn it on), a
    range's staged materializations are one batch per asset (the step's output), not a
    transaction per day; the contract check records what main holds, a data version per day,
    through Dagster's public ``log_event``, one event each (no batch in the public API)."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    batches: list[tuple[dg.AssetKey, list[str], bool]] = []
    single: list[tuple[str, bool]] = []
    in_batch: list[bool] = []
    storage_type = type(instance.event_log_storage)
    store_batch, store_one = storage_type.store_event_batch, storage_type.store_event

    def observing(self, events) -> None:
        materializations = [e.asset_materialization for e in events if e.asset_materialization]
        if materializations and materializations[0].asset_key == FLIGHTS:
            published = {bool(m.metadata.get("published")) for m in materializations}
            assert len(published) == 1, "a batch is either the step's or the check's"
            batches.append((FLIGHTS, [m.partition for m in materializations], published.pop()))
        in_batch.append(True)
        try:
            store_batch(self, events)
        finally:
            in_batch.pop()

    def observing_one(self, event) -> None:
        materialization = event.asset_materialization
        if materialization and materialization.asset_key == FLIGHTS and not in_batch:
            single.append((materialization.partition, bool(materialization.metadata.get("published"))))
        store_one(self, event)

    monkeypatch.setattr(storage_type, "store_event_batch", observing)
    monkeypatch.setattr(storage_type, "store_event", observing_one)
    land(settings, "2013-03-01", "2013-03-07")
    assert run_daily(defs, instance, "2013-03-01", "2013-03-07").success

    days = [f"2013-03-0{d}" for d in range(1, 8)]
    assert batches == [(FLIGHTS, days, False)]
    assert single == [(day, True) for day in days]
    recorded = [
        r.asset_materialization
        for r in instance.fetch_materializations(FLIGHTS, limit=100).records
        if r.asset_materialization.metadata.get("published")
    ]
    assert sorted(m.partition for m in recorded) == days
    assert len({m.tags["dagster/data_version"] for m in recorded}) == len(days)
    assert (
        data_version(instance, FLIGHTS, "2013-03-04")
        == store.stat_object("main", table_path(FLIGHTS.path, "2013-03-04")).checksum
    )


def test_identical_rematerialization_keeps_the_data_version(settings, defs, instance, store):
    land(settings, "2013-04-02", "2013-04-02")

    def run_and_read():
        result = run_daily(defs, instance, "2013-04-02")
        assert result.success
        staged, published = [
            e.event_specific_data.materialization
            for e in result.get_asset_materialization_events()
            if e.asset_key == FLIGHTS
        ]
        return staged, published

    first_staged, first_published = run_and_read()
    second_staged, second_published = run_and_read()
    # Data versions follow main: staged data keeps main's version, the check's publication
    # stamps the checksum main now holds. Identical bytes: the same version, nothing changes.
    version = store.stat_object("main", table_path(FLIGHTS.path, "2013-04-02")).checksum
    assert first_staged.tags["dagster/data_version"] == ""  # nothing on main before
    assert first_published.tags["dagster/data_version"] == version
    assert (
        second_staged.tags["dagster/data_version"] == second_published.tags["dagster/data_version"] == version
    )
    assert data_version(instance, FLIGHTS, "2013-04-02") == version
    assert first_published.metadata["published"].value is True
    # Same bytes: nothing new to commit or publish, main stays where the first run left it.
    assert second_staged.metadata["unchanged_from_main"].value is True
    assert first_staged.metadata["unchanged_from_main"].value is False
    evaluation = instance.get_latest_asset_check_evaluation_record(  # the second run's check
        dg.AssetCheckKey(FLIGHTS, "contract")
    )
    assert evaluation is not None
    assert not [b for b in store.list_branches() if b.name.startswith("wap-")]
    assert len([c for c in store.log("main") if c.message.startswith("Publish raw/flights")]) == 1


def test_dimension_tables_publish_unpartitioned(settings, defs, instance, store):
    land(settings, "2013-01-01", "2013-01-01")
    result = defs.resolve_job_def("raw_dimensions").execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert result.success
    airports = read_table(store, "main", "raw/airports/data.parquet")
    assert airports.height == 1458
    assert airports["faa"].is_unique().all()
    assert read_table(store, "main", "raw/airlines/data.parquet").height == 16
