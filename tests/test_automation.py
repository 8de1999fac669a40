"""Declarative automation, tick by tick on a real instance with a fixed clock.

Publishing is simulated as the pipeline records it: a materialization stamped with the data
version main held before (the data is only staged), then, once the contract check has published,
a second materialization with the new version (the checksum main now holds). Automation may tick
between the two. Each tick evaluates every
automation condition; we assert exactly which asset partitions are requested, and count the work
that one new day causes on a month and on a year of history.
"""

from __future__ import annotations

import datetime
import itertools
import shutil
import time

import dagster as dg
import pytest
import yaml

from mlops_assets.definitions import build_definitions
from mlops_assets.settings import MODELS_DIR

FLIGHTS, WEATHER = dg.AssetKey(["raw", "flights"]), dg.AssetKey(["raw", "weather"])
FEATURES = dg.AssetKey(["features", "flight_features"])
DIMENSIONS = [dg.AssetKey(["raw", n]) for n in ("airports", "planes", "airlines")]
SPECS = ("late_arrival", "arrival_delay")
VERSION = "dagster/data_version"
_contents = itertools.count()


def key(*parts: str) -> dg.AssetKey:
    return dg.AssetKey(list(parts))


class Simulation:
    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, clock: datetime.datetime):
        self.defs, self.instance = defs, instance
        self.cursor = None
        self.clock = clock  # late enough that every partition the test uses exists
        self.on_main: dict[tuple[dg.AssetKey, str | None], str] = {}
        self.keys = defs.resolve_asset_graph().get_all_asset_keys()

    def _materialize(self, asset: dg.AssetKey, partition: str | None, version: str) -> None:
        self.instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=asset, partition=partition, tags={VERSION: version})
        )

    def stage(self, asset: dg.AssetKey, partition: str | None = None) -> None:
        """The asset step: the data is staged on a branch; the version is still main's."""
        self._materialize(asset, partition, self.on_main.get((asset, partition), ""))

    def audit(
        self,
        asset: dg.AssetKey,
        partition: str | None = None,
        content: str | None = None,
        passed: bool = True,
    ):
        """The contract check: publishes ``content`` (new unless given) or, failing, keeps main's."""
        if passed:
            self.on_main[(asset, partition)] = content if content is not None else f"c{next(_contents)}"
        self._materialize(asset, partition, self.on_main.get((asset, partition), ""))

    def publish(self, asset: dg.AssetKey, partition: str | None = None, content: str | None = None) -> None:
        self.stage(asset, partition)
        self.audit(asset, partition, content)

    def land(self, day: str) -> None:
        """What the landing sensor's run publishes for a day."""
        self.publish(FLIGHTS, day)
        self.publish(WEATHER, day)

    def tick(self, defs: dg.Definitions | None = None) -> set[tuple[str, str | None]]:
        self.clock += datetime.timedelta(minutes=1)
        result = dg.evaluate_automation_conditions(
            defs=defs or self.defs, instance=self.instance, cursor=self.cursor, evaluation_time=self.clock
        )
        self.cursor = result.cursor
        return {
            (asset.to_user_string(), partition)
            for asset in self.keys
            for partition in result.get_requested_partitions(asset)
        }

    def run(self, requested: set) -> None:
        for asset, partition in sorted(requested, key=str):
            self.publish(dg.AssetKey(asset.split("/")), partition)

    def settle(self, max_ticks: int = 10) -> list[set]:
        """Tick and run what is requested until a tick requests nothing; the requests of each tick."""
        history = []
        for _ in range(max_ticks):
            requested = self.tick()
            if not requested:
                return history
            history.append(requested)
            self.run(requested)
        raise AssertionError(f"automation did not settle in {max_ticks} ticks: {history[-1]}")


@pytest.fixture
def sim(settings):
    with dg.instance_for_test() as instance:
        yield Simulation(
            build_definitions(settings), instance, datetime.datetime(2013, 4, 15, 6, tzinfo=datetime.UTC)
        )


def dbt_keys(defs) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "dbt"}


def test_three_weeks_of_automation_decisions(sim, settings, tmp_path):
    for asset in DIMENSIONS:
        sim.publish(asset)
    assert sim.tick() == set()  # nothing landed: nothing to do

    # A normal day: features follow the raw day; no model yet, so no predictions.
    sim.land("2013-03-01")
    assert sim.tick() == {("features/flight_features", "2013-03-01")}
    sim.publish(FEATURES, "2013-03-01")
    assert sim.tick() == set()

    # Days 2..21 land one per tick; each brings exactly its own features partition, also when
    # automation ticks while the raw data is staged but not yet audited.
    for n in range(2, 22):
        day = f"2013-03-{n:02d}"
        sim.stage(FLIGHTS, day)
        sim.stage(WEATHER, day)
        assert sim.tick() == set()
        sim.audit(FLIGHTS, day)
        sim.audit(WEATHER, day)
        assert sim.tick() == {("features/flight_features", day)}
        sim.publish(FEATURES, day)

    marts = dbt_keys(sim.defs)
    assert len(marts) >= 10

    def reports(day: str) -> set:
        """Every model's report of the day, the day's monitoring as one table, and the marts after it."""
        return (
            {(f"monitoring/{s}/daily_report", day) for s in SPECS}
            | {("monitoring/daily_reports", day)}
            | {(k, day) for k in marts}
        )

    def day_chain(day: str) -> set:
        return {(f"predictions/{s}", day) for s in SPECS} | reports(day)

    summaries = {(f"monitoring/{s}/summary", None) for s in SPECS}
    # The overview follows the summaries: requested with them (it runs after them in the same run).
    summaries |= {("monitoring/overview", None)}
    # The models are trained (by the retrain sensor) right after the 21st landed: the 21st is new
    # traffic and is scored, the days they were trained on are not (older days after a training
    # window, when there are any, are scored by serve_new_models).
    for spec in SPECS:
        sim.publish(key("models", spec))
    assert sim.settle() == [day_chain("2013-03-21"), summaries]
    assert sim.tick() == set()

    # A day that lands late (the 23rd before the 22nd): each is processed when it arrives, and a
    # retrained model does not rescore history.
    for spec in SPECS:
        sim.publish(key("models", spec))
    sim.land("2013-03-23")
    assert sim.settle() == [
        {("features/flight_features", "2013-03-23")} | day_chain("2013-03-23"),
        summaries,
    ]
    sim.land("2013-03-22")
    # The 22nd's features also carry the 21st's labels: the 21st's reports are recomputed.
    assert sim.settle() == [
        {("features/flight_features", "2013-03-22")} | day_chain("2013-03-22") | reports("2013-03-21"),
        summaries,
    ]

    # Re-delivered files with identical content (a day, the dimensions) change nothing downstream.
    sim.publish(FLIGHTS, "2013-03-22", content=sim.on_main[(FLIGHTS, "2013-03-22")])
    for asset in DIMENSIONS:
        sim.publish(asset, content=sim.on_main[(asset, None)])
    assert sim.tick() == set()
    # A changed dimension does not recompute history either: new days use it; history is a backfill.
    sim.publish(DIMENSIONS[1])
    assert sim.tick() == set()

    # A day whose flights fail their contract while its weather passes: nothing downstream is
    # requested for it until a good delivery of its flights is published.
    sim.stage(FLIGHTS, "2013-03-24")
    sim.publish(WEATHER, "2013-03-24")
    assert sim.tick() == set()
    sim.audit(FLIGHTS, "2013-03-24", passed=False)
    assert sim.tick() == set()
    assert sim.tick() == set()
    sim.publish(FLIGHTS, "2013-03-24")  # upstream fixed the file
    assert ("features/flight_features", "2013-03-24") in sim.tick()

    # A failed run (requested, nothing materialized): no request storm on the next ticks.
    sim.land("2013-03-25")
    assert ("features/flight_features", "2013-03-25") in sim.tick()
    assert sim.tick() == set()
    assert sim.tick() == set()

    # A spec edit: the model is requested once, for its code version.
    specs = tmp_path / "specs"
    shutil.copytree(MODELS_DIR, specs)
    component = yaml.safe_load((specs / "late_arrival" / "defs.yaml").read_text())
    component["attributes"]["estimator"]["params"]["learning_rate"] = 0.05
    (specs / "late_arrival" / "defs.yaml").write_text(yaml.safe_dump(component))
    edited = build_definitions(settings.model_copy(update={"models_dir": specs}))
    assert sim.tick(edited) == {("models/late_arrival", None)}
    assert sim.tick(edited) == set()


def _history(sim: Simulation, first: datetime.date, days: int) -> list[str]:
    """Publish ``days`` of fully processed history (every daily asset of every day) and the models."""
    for asset in DIMENSIONS:
        sim.publish(asset)
    for spec in SPECS:
        sim.publish(key("models", spec))
    daily = [k for k in sim.keys if sim.defs.resolve_asset_graph().get(k).partitions_def is not None]
    keys = [d.isoformat() for d in (first + datetime.timedelta(days=n) for n in range(days))]
    for day in keys:
        for asset in daily:  # one event each: the state a run's audit leaves (both events cost time here)
            sim.on_main[(asset, day)] = f"c{next(_contents)}"
            sim._materialize(asset, day, sim.on_main[(asset, day)])
    for spec in SPECS:
        sim.publish(key("monitoring", spec, "summary"))
    return keys


@pytest.mark.parametrize("history_days", [30, 364])
def test_one_new_day_costs_the_same_on_a_month_and_a_year(settings, history_days):
    """One landed day requests its own chain, the previous day's reports (labels), the summaries and
    the overview,
    whatever the length of history: the work follows the change, not the partitions."""
    first = datetime.date(2013, 1, 1)
    with dg.instance_for_test() as instance:
        defs = build_definitions(settings)
        clock = datetime.datetime(2014, 1, 2, tzinfo=datetime.UTC)
        sim = Simulation(defs, instance, clock)
        days = _history(sim, first, history_days)
        assert sim.tick() == set()  # the first evaluation remembers nothing: no storm on deploy
        new_day = (datetime.date.fromisoformat(days[-1]) + datetime.timedelta(days=1)).isoformat()
        sim.land(new_day)
        began = time.perf_counter()
        ticks = sim.settle()
        seconds = time.perf_counter() - began
    requested = set().union(*ticks)
    marts = dbt_keys(defs)
    minimal = (
        {("features/flight_features", new_day)}
        | {(f"predictions/{s}", new_day) for s in SPECS}
        | {(f"monitoring/{s}/daily_report", d) for s in SPECS for d in (new_day, days[-1])}
        | {("monitoring/daily_reports", d) for d in (new_day, days[-1])}
        | {(k, d) for k in marts for d in (new_day, days[-1])}
        | {(f"monitoring/{s}/summary", None) for s in SPECS}
        | {("monitoring/overview", None)}
    )
    assert requested == minimal, f"{len(requested)} requested, {len(minimal)} needed"
    print(
        f"{history_days} days of history: {len(requested)} asset partitions in {len(ticks)} ticks ({seconds:.1f} s)"
    )


def test_automatic_runs_say_why(defs):
    sensors = {s.name: s for s in defs.sensors}
    for name in ("automation_conditions", "feature_automation"):
        assert sensors[name].run_tags == {"mlops/trigger": "automation_condition"}
    # Every asset with a condition is evaluated by exactly one sensor.
    graph = defs.resolve_asset_graph()
    automated = {k for k in graph.get_all_asset_keys() if graph.get(k).automation_condition is not None}
    daemon = sensors["automation_conditions"].asset_selection.resolve(graph)
    in_code = sensors["feature_automation"].asset_selection.resolve(graph)
    assert not daemon & in_code
    assert automated <= daemon | in_code
