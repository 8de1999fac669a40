"""Runs through the real queue, with the real webserver and daemon.

Four runs of different days of the same assets are submitted at once (GraphQL `launchRun`, as the
UI does): the queue holds them to the embedded instance's limit of two at a time, all four publish,
each day exactly once, and Dagster's data version of every day is the checksum main holds.
"""

from __future__ import annotations

import os

import dagster as dg
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.instance import prepare_instance
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import table_path
from mlops_assets.settings import load_settings
from tests.conftest import data_version, land, publications, publish_dimensions
from tests.dagster_dev import dagster_dev, wait_for

pytestmark = pytest.mark.extended  # `make test-extended`, run by CI after `make test`

DAYS = ["2013-06-03", "2013-06-04", "2013-06-05", "2013-06-06"]
ASSETS = (["raw", "flights"], ["raw", "weather"])
WAIT_SECONDS = 420


def test_four_runs_through_the_queue_publish_each_day_once(tmp_path, monkeypatch):
    home = tmp_path / "mlops"
    settings = load_settings({"MLOPS_HOME": str(home)})
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # prepare_instance sets it; restored after
    dagster_home = prepare_instance(settings)
    land(settings, DAYS[0], DAYS[-1])
    store = LocalStore(settings.local_store_dir)
    with dg.DagsterInstance.get() as instance:
        publish_dimensions(build_definitions(settings), instance)
        env = {**os.environ, "MLOPS_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
        with dagster_dev(env, tmp_path / "dagster-dev.log") as dev:
            # Four runs at once, through the queue (two at a time on this instance).
            runs = [dev.launch("raw_daily", {"dagster/partition": day}) for day in DAYS]
            wait_for(
                lambda: all(instance.get_run_by_id(r).status == dg.DagsterRunStatus.SUCCESS for r in runs),
                f"four queued runs succeeding ({[instance.get_run_by_id(r).status for r in runs]})",
                WAIT_SECONDS,
            )
            records = [instance.get_run_record_by_id(r) for r in runs]
            spans = [(r.start_time, r.end_time) for r in records]
            most_at_once = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
            assert most_at_once <= 2, spans  # the queue's limit held

        for asset in ASSETS:
            for day in DAYS:
                assert publications(store, asset, day) == 1, (asset, day)
                held = store.stat_object("main", table_path(asset, day)).checksum
                assert data_version(instance, dg.AssetKey(asset), day) == held, (asset, day)
