"""A run SIGKILLed mid-run, under the real webserver and daemon on the embedded instance.

A day lands; the daemon's landing sensor launches its run of raw/flights and raw/weather, which is
killed after staging a write, before publishing (the code location pauses it there:
`tests/paused_location.py`; steps run in the run worker's own process, ``MLOPS_EXECUTOR=in_process``).
Two kills:

- the run worker alone: the code server that started it sees it die and fails the run;
- all of `dagster dev` at once (webserver, daemon, code server, worker), then `dagster dev` again:
  nothing that watched the worker is left, so the restarted daemon's run monitor asks
  `LocalRunLauncher`, which finds the worker's pid gone and fails the run with that reason (with
  Dagster's own launcher the run stayed STARTED until ``max_runtime_seconds``, then was canceled).

Either way the run retry policy launches one retry, which succeeds; main holds the day once, and
Dagster's data version for it is main's checksum.
"""

from __future__ import annotations

import os
import signal
import time

import dagster as dg
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.embedded.run_launcher import run_worker
from mlops_assets.instance import prepare_instance
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import read_table, table_path
from mlops_assets.settings import load_settings
from tests.conftest import (
    PROJECT_ROOT,
    data_version,
    expected_rows,
    land,
    publications,
    publish_dimensions,
)
from tests.dagster_dev import dagster_dev, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.extended]  # `make test-extended`, run by CI after `make test`

DAY = "2013-07-02"
ASSETS = (["raw", "flights"], ["raw", "weather"])
WORKSPACE = f"""\
load_from:
  - python_module:
      module_name: tests.paused_location
      location_name: mlops_assets
      working_directory: {PROJECT_ROOT}
"""


def _run_failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return failures[-1].dagster_event.message if failures else ""


def _retries_of(instance: dg.DagsterInstance, run_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": run_id})))


def _failed_and_retried(instance: dg.DagsterInstance, run_id: str, killed_at: float) -> str:
    """Waits for the run to be failed and its one retry to succeed; the run's failure message."""
    wait_for(
        lambda: instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE, "the run failed", 120
    )
    failed_at = time.monotonic()
    retry = wait_for(lambda: next(iter(_retries_of(instance, run_id)), None), "the retry launched", 120)
    assert retry.tags["dagster/retry_number"] == "1"
    done = wait_for(
        lambda: instance.get_run_by_id(retry.run_id).is_finished and instance.get_run_by_id(retry.run_id),
        "the retry finishing",
        300,
    )
    assert done.status == dg.DagsterRunStatus.SUCCESS, _run_failure_message(instance, retry.run_id)
    assert len(_retries_of(instance, run_id)) == 1
    print(
        f"\nrun failed {failed_at - killed_at:.0f} s after the kill;"
        f" its retry succeeded {time.monotonic() - killed_at:.0f} s after the kill"
    )
    return _run_failure_message(instance, run_id)


@pytest.mark.parametrize("killed", ["run worker", "dagster dev"])
def test_a_killed_run_is_failed_and_its_retry_publishes_once(tmp_path, monkeypatch, killed):
    home = tmp_path / "mlops"
    settings = load_settings({"MLOPS_HOME": str(home)})
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # prepare_instance sets it; restored after
    dagster_home = prepare_instance(settings)
    land(settings, DAY, DAY)
    store = LocalStore(settings.local_store_dir)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(WORKSPACE)
    pause_file = tmp_path / "paused.pid"
    env = {
        **os.environ,
        "MLOPS_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "MLOPS_EXECUTOR": "in_process",
        "MLOPS_TEST_PAUSE_FILE": str(pause_file),
    }
    with dg.DagsterInstance.get() as instance:
        publish_dimensions(build_definitions(settings), instance)
        main_before = store.get_commit("main").id
        with dagster_dev(env, tmp_path / "dagster-dev.log", workspace) as dev:
            # The landing sensor's run staged a write and is paused before publishing: kill it there.
            paused = wait_for(lambda: pause_file.exists() and pause_file.read_text(), "a staged write", 240)
            (run,) = instance.get_runs(filters=dg.RunsFilter(job_name="raw_daily"))
            assert run.tags["mlops/landed_day"] == DAY
            run_id = run.run_id
            worker = run_worker(instance, run_id)  # what LocalRunLauncher reads from the run's events
            assert worker is not None and worker.pid == int(paused), (worker, paused)
            assert store.get_commit("main").id == main_before  # nothing published yet
            killed_at = time.monotonic()
            if killed == "run worker":
                os.kill(worker.pid, signal.SIGKILL)
                message = _failed_and_retried(instance, run_id, killed_at)
                assert message, "the run's failure says why"
            else:
                dev.kill()
                assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        if killed == "dagster dev":
            with dagster_dev(env, tmp_path / "dagster-dev-again.log", workspace):
                message = _failed_and_retried(instance, run_id, killed_at)
            assert f"The run worker (pid {worker.pid}" in message, message
            assert "is gone" in message or "zombie" in message, message

    # One publication of the day per asset, and Dagster's data version is main's checksum.
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for asset in ASSETS:
            assert publications(store, asset, DAY) == 1, asset
            held = store.stat_object("main", table_path(asset, DAY)).checksum
            assert data_version(instance, dg.AssetKey(asset), DAY) == held, asset
    assert read_table(store, "main", table_path(ASSETS[0], DAY)).height == expected_rows("flights", DAY)
