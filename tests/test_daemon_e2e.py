"""End to end with the real webserver and daemon: land one file, see the chain happen by itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import date

import dagster as dg
import pytest

from mlops_assets.instance import prepare_instance
from mlops_assets.lib.landing import land_days
from mlops_assets.settings import load_settings
from tests.conftest import PROJECT_ROOT, QUIET, build_world
from tests.processes import free_port, stop_group

pytestmark = pytest.mark.slow
NEW_DAY = "2013-03-22"
CHAIN = [
    dg.AssetKey(["raw", "flights"]),
    dg.AssetKey(["features", "flight_features"]),
    dg.AssetKey(["predictions", "late_arrival"]),
    dg.AssetKey(["monitoring", "late_arrival", "daily_report"]),
    dg.AssetKey(["dbt", "marts", "fct_model_daily_performance"]),
]


def _materialized(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str):
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1)
    return records.records[0] if records.records else None


def test_landing_a_file_runs_the_chain_without_a_manual_launch(tmp_path, monkeypatch):
    home = tmp_path / "mlops"
    settings = load_settings({"MLOPS_HOME": str(home)})
    dagster_home = prepare_instance(settings)  # the embedded instance `make dev` uses
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        # Yesterday's state: two weeks published and both models trained.
        defs = build_world(settings, instance, "2013-03-08", "2013-03-21")
        assert defs.resolve_job_def("train_models").execute_in_process(instance=instance, run_config=QUIET).success

        port = free_port()
        env = {**os.environ, "MLOPS_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
        server = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "dagster"), "dev", "-w", "workspace.yaml",
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(1)
            else:
                pytest.fail("dagster dev did not answer within 120 s")

            # Upstream delivers one new day. Nobody launches anything.
            land_days(settings.landing_dir, date.fromisoformat(NEW_DAY), date.fromisoformat(NEW_DAY))
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and not all(_materialized(instance, k, NEW_DAY) for k in CHAIN):
                time.sleep(5)
            missing = [k.to_user_string() for k in CHAIN if not _materialized(instance, k, NEW_DAY)]
            assert not missing, f"not materialized within 600 s: {missing}"
        finally:
            stop_group(server)

        triggers = {
            k.to_user_string(): instance.get_run_by_id(_materialized(instance, k, NEW_DAY).run_id).tags.get("mlops/trigger")
            for k in CHAIN
        }
        assert triggers["raw/flights"] == "landing_sensor"
        assert triggers["features/flight_features"] == "automation_condition"
        assert triggers["monitoring/late_arrival/daily_report"] == "automation_condition"
        assert triggers["dbt/marts/fct_model_daily_performance"] == "automation_condition"
        # The days already published were not requested again.
        assert len(instance.fetch_materializations(dg.AssetKey(["raw", "flights"]), limit=100).records) == 15
        print(json.dumps(triggers))
