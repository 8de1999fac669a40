"""The retraining decision day by day over three weeks: initial, quiet, drift, quiet, freshness."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from mlops_assets.lib.model_spec import load_spec
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import encode_table, publish, stage, table_path, wap_branch
from mlops_assets.platform.automation.decisions import decide_retraining
from mlops_assets.settings import MODELS_DIR

SPEC = load_spec(MODELS_DIR / "late_arrival")  # window 60, holdout 7, label delay 1, max age 7
START = date(2013, 4, 1)


def day(n: int) -> str:
    return (START + timedelta(days=n)).isoformat()


class World:
    """Publishes exactly what the decision reads: feature days, the model reference, the summary."""

    def __init__(self, root: Path):
        self.store = LocalStore(root)
        self.store.ensure_repository()
        self.state: dict = {}
        self.runs = 0

    def _publish(self, path: str, frame: pl.DataFrame) -> None:
        self.runs += 1
        branch = wap_branch(f"sim-{self.runs}", ["sim"])
        stage(self.store, branch, {path: encode_table(frame)}, "sim", {})
        publish(self.store, branch, "sim", {})

    def land(self, n: int) -> None:
        self._publish(table_path(["features", "flight_features"], day(n)), pl.DataFrame({"x": [n]}))

    def train(self, version: int, until: int) -> None:
        self._publish(
            table_path(["models", "late_arrival"], None),
            pl.DataFrame({"model_version": [version], "holdout_end": [day(until)]}),
        )

    def summarize(self, verdict: str, first: int, last: int) -> None:
        self._publish(
            table_path(["monitoring", "late_arrival", "summary"], None),
            pl.DataFrame(
                {
                    "verdict": [verdict],
                    "reason": [f"{verdict} evidence"],
                    "window_start": [START + timedelta(days=first)],
                    "window_end": [START + timedelta(days=last)],
                }
            ),
        )

    def decide(self, in_progress: bool = False):
        decision = decide_retraining(SPEC, self.store, self.state, in_progress=in_progress)
        self.state = decision.state
        return decision.reason


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path / "store")


def test_three_weeks_of_decisions(world):
    decisions = {}
    # Week 1-2: days land; training starts as soon as a window with a holdout exists, once.
    for n in range(0, 10):
        world.land(n)
        decisions[n] = world.decide()
    first = next(n for n, reason in decisions.items() if reason)
    assert decisions[first] == "initial" and first == 8  # 8 train days need 7 holdout days + 1 label day
    assert [r for r in decisions.values() if r] == ["initial"]
    world.train(version=1, until=first - 1)

    # A day with no new data: no decision at all.
    assert world.decide() is None

    # Quiet days: monitoring ok, model fresh.
    for n in range(10, 12):
        world.land(n)
        world.summarize("ok", n - 2, n)
        assert world.decide() is None

    # Drift on days the model never saw: retrain once, with the verdict as reason...
    world.land(12)
    world.summarize("drift", 9, 12)
    assert world.decide() == "drift"
    # ...not again for the same version, even as drift persists on the next days.
    world.land(13)
    world.summarize("drift", 9, 13)
    assert world.decide() is None

    # Retrained (v2 on data up to day 12): the same drift summary is about data it has seen: quiet.
    world.train(version=2, until=12)
    world.land(14)
    world.summarize("drift", 9, 14)
    assert world.decide() is None

    # A run of the model in progress defers every decision.
    world.land(15)
    assert world.decide(in_progress=True) is None

    # Freshness: more than max_model_age_days (7) of new labelled data since v2's training data.
    reasons = []
    for n in range(16, 22):
        world.land(n)
        world.summarize("ok", n - 6, n)
        reasons.append((n, world.decide()))
    # Day 21: labelled up to 20, 8 days past day 12 (> 7); day 20 is exactly 7, still fresh.
    assert [(n, r) for n, r in reasons if r] == [(21, "freshness")]


def test_a_failed_initial_training_is_not_retried_for_the_same_reason(world):
    for n in range(0, 9):
        world.land(n)
        world.decide()
    # The initial run failed (nothing published); more days land: no request storm.
    for n in range(9, 14):
        world.land(n)
        assert world.decide() is None


def test_drift_summarized_after_the_sensor_saw_the_day_still_retrains_once(world):
    """The daemon's order: a day's features publish, a sensor tick, then its report and summary."""
    for n in range(0, 9):
        world.land(n)
        world.decide()
    world.train(version=1, until=7)
    world.summarize("ok", 8, 8)
    assert world.decide() is None
    world.land(9)
    assert world.decide() is None  # the tick came before monitoring reached day 9
    world.summarize("drift", 8, 9)
    assert world.decide() == "drift"
    assert world.decide() is None
    # v2 (trained up to day 8) re-scores day 9: its summary judges the same day, no new evidence.
    world.train(version=2, until=8)
    world.summarize("drift", 9, 9)
    assert world.decide() is None
