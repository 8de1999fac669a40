"""Declarative automation, tick by tick on a real instance with a fixed clock.

Days "land" by recording raw materializations; each tick evaluates every automation condition
and we assert exactly which asset partitions are requested.
"""

from __future__ import annotations

import datetime
import shutil

import dagster as dg
import pytest
import yaml

from mlops_assets.definitions import build_definitions
from mlops_assets.settings import PACKAGE_DIR

FLIGHTS, WEATHER = dg.AssetKey(["raw", "flights"]), dg.AssetKey(["raw", "weather"])
FEATURES = dg.AssetKey(["features", "flight_features"])
DIMENSIONS = [dg.AssetKey(["raw", n]) for n in ("airports", "planes", "airlines")]
SPECS = ("late_arrival", "arrival_delay")


def key(*parts: str) -> dg.AssetKey:
    return dg.AssetKey(list(parts))


class Simulation:
    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs, self.instance = defs, instance
        self.cursor = None
        # Late enough that every March partition exists (a daily partition exists once its day is over).
        self.clock = datetime.datetime(2013, 4, 15, 6, tzinfo=datetime.timezone.utc)

    def materialize(self, asset: dg.AssetKey, partition: str | None = None) -> None:
        self.instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=partition))

    def land(self, day: str) -> None:
        """What the landing sensor's run publishes for a day."""
        self.materialize(FLIGHTS, day)
        self.materialize(WEATHER, day)

    def tick(self, defs: dg.Definitions | None = None) -> set[tuple[str, str | None]]:
        self.clock += datetime.timedelta(minutes=1)
        result = dg.evaluate_automation_conditions(
            defs=defs or self.defs, instance=self.instance, cursor=self.cursor, evaluation_time=self.clock
        )
        self.cursor = result.cursor
        return {
            (asset.to_user_string(), partition)
            for asset in (defs or self.defs).resolve_asset_graph().get_all_asset_keys()
            for partition in result.get_requested_partitions(asset)
        }


@pytest.fixture
def sim(settings):
    with dg.instance_for_test() as instance:
        yield Simulation(build_definitions(settings), instance)


def test_three_weeks_of_automation_decisions(sim, settings, tmp_path):
    for asset in DIMENSIONS:
        sim.materialize(asset)
    assert sim.tick() == set()  # nothing landed: nothing to do

    # A normal day: features follow the raw day; no model yet, so no predictions.
    sim.land("2013-03-01")
    assert sim.tick() == {("features/flight_features", "2013-03-01")}
    sim.materialize(FEATURES, "2013-03-01")
    assert sim.tick() == set()

    # Days 2..21 land one per tick; each brings exactly its own features partition.
    for n in range(2, 22):
        day = f"2013-03-{n:02d}"
        sim.land(day)
        assert sim.tick() == {("features/flight_features", day)}
        sim.materialize(FEATURES, day)

    # The models are trained (by the retrain sensor, tested in test_retrain_decisions): every
    # published day is scored, reported and built into the dbt marts in one request (downstream
    # of a requested partition is requested with it); the summaries follow once the reports are
    # published. Before that, no dbt model was requested: the marts wait for the day's reports.
    dbt_keys = {k.to_user_string() for k in sim.defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "dbt"}
    assert len(dbt_keys) >= 10

    def reports(day: str) -> set:
        return {(f"monitoring/{s}/daily_report", day) for s in SPECS} | {(k, day) for k in dbt_keys}

    def day_chain(day: str) -> set:
        return {(f"predictions/{s}", day) for s in SPECS} | reports(day)

    summaries = {(f"monitoring/{s}/summary", None) for s in SPECS}
    for spec in SPECS:
        sim.materialize(key("models", spec))
    march = [f"2013-03-{n:02d}" for n in range(1, 22)]
    assert sim.tick() == set().union(*(day_chain(d) for d in march))

    def publish(requested: set) -> None:
        for asset, partition in requested:
            sim.materialize(dg.AssetKey(asset.split("/")), partition)

    publish(set().union(*(day_chain(d) for d in march)))
    assert sim.tick() == summaries
    publish(summaries)
    assert sim.tick() == set()

    # A day that lands late (the 23rd before the 22nd): each is processed when it arrives, and a
    # retrained model does not rescore history.
    for spec in SPECS:
        sim.materialize(key("models", spec))
    sim.land("2013-03-23")
    requested = sim.tick()
    assert requested == {("features/flight_features", "2013-03-23")} | day_chain("2013-03-23")
    publish(requested)
    assert sim.tick() == summaries
    publish(summaries)
    sim.land("2013-03-22")
    requested = sim.tick()
    # The 22nd's features also carry the 21st's labels: the 21st's reports are recomputed.
    assert requested == (
        {("features/flight_features", "2013-03-22")} | day_chain("2013-03-22")
        | reports("2013-03-21")
    )
    publish(requested)
    assert sim.tick() == summaries
    publish(summaries)
    assert sim.tick() == set()

    # A failed run (requested, nothing materialized): no request storm on the next ticks.
    sim.land("2013-03-24")
    assert ("features/flight_features", "2013-03-24") in sim.tick()
    assert sim.tick() == set()
    assert sim.tick() == set()

    # A spec edit: the model is requested once, for its code version.
    specs = tmp_path / "specs"
    shutil.copytree(PACKAGE_DIR / "model_specs", specs)
    raw = yaml.safe_load((specs / "late_arrival.yaml").read_text())
    raw["estimator"]["params"]["learning_rate"] = 0.05
    (specs / "late_arrival.yaml").write_text(yaml.safe_dump(raw))
    edited = build_definitions(settings.model_copy(update={"model_specs_dir": specs}))
    assert sim.tick(edited) == {("models/late_arrival", None)}
    assert sim.tick(edited) == set()


def test_automatic_runs_say_why(defs):
    sensor = next(s for s in defs.sensors if s.name == "automation_conditions")
    assert sensor.run_tags == {"mlops/trigger": "automation_condition"}
