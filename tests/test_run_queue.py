"""Runs through the real queue, with the real webserver and daemon.

Four runs of different days of the same assets are submitted at once (GraphQL `launchRun`, as the
UI does): the queue holds them to the embedded instance's limit of two at a time, all four publish,
each day exactly once, and Dagster's data version of every day is the checksum main holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.instance import prepare_instance
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import table_path
from mlops_assets.settings import load_settings
from tests.conftest import PROJECT_ROOT, QUIET, data_version, land
from tests.processes import free_port, stop_group

pytestmark = pytest.mark.extended  # `make test-extended`, run by CI after `make test`

DAYS = ["2013-06-03", "2013-06-04", "2013-06-05", "2013-06-06"]
ASSETS = (["raw", "flights"], ["raw", "weather"])
LOCATION = "mlops_assets"
WAIT_SECONDS = 420
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""
REPOSITORIES = """
query { repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"""


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        payload = json.loads(answer.read())
    assert not payload.get("errors"), payload["errors"]
    return payload["data"]


def _launch(port: int, repository: str, day: str) -> str:
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": repository,
            "jobName": "raw_daily",
        },
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
    }
    launched = _graphql(port, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _wait(condition, what: str, seconds: float = WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(2)
    pytest.fail(f"not within {seconds:.0f} s: {what}")


def _publications(store: LocalStore, asset: list[str], day: str) -> int:
    label = "/".join(asset)
    return sum(
        1
        for c in store.log("main", limit=200)
        if c.message.startswith("Publish")
        and c.metadata.get("asset_key") == label
        and c.metadata.get("partitions") == day
    )


def test_four_runs_through_the_queue_publish_each_day_once(tmp_path, monkeypatch):
    home = tmp_path / "mlops"
    settings = load_settings({"MLOPS_HOME": str(home)})
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # prepare_instance sets it; restored after
    dagster_home = prepare_instance(settings)
    land(settings, DAYS[0], DAYS[-1])
    store = LocalStore(settings.local_store_dir)
    with dg.DagsterInstance.get() as instance:
        assert (
            build_definitions(settings)
            .resolve_job_def("raw_dimensions")
            .execute_in_process(instance=instance, run_config=QUIET)
            .success
        )
        port = free_port()
        env = {**os.environ, "MLOPS_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
        logs = tmp_path / "dagster-dev.log"
        with logs.open("wb") as out:
            server = subprocess.Popen(
                [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
                 "-p", str(port)],
                cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:

            def serving() -> bool:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as answer:
                        return answer.status == 200
                except OSError:
                    return False

            _wait(serving, "dagster dev answering", 180)
            nodes = _graphql(port, REPOSITORIES)["repositoriesOrError"]["nodes"]
            repository = next(n["name"] for n in nodes if n["location"]["name"] == LOCATION)

            # Four runs at once, through the queue (two at a time on this instance).
            runs = [_launch(port, repository, day) for day in DAYS]
            _wait(
                lambda: all(instance.get_run_by_id(r).status == dg.DagsterRunStatus.SUCCESS for r in runs),
                f"four queued runs succeeding ({[instance.get_run_by_id(r).status for r in runs]})",
            )
            records = [instance.get_run_record_by_id(r) for r in runs]
            spans = [(r.start_time, r.end_time) for r in records]
            most_at_once = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
            assert most_at_once <= 2, spans  # the queue's limit held

        finally:
            stop_group(server)

        for asset in ASSETS:
            for day in DAYS:
                assert _publications(store, asset, day) == 1, (asset, day)
                held = store.stat_object("main", table_path(asset, day)).checksum
                assert data_version(instance, dg.AssetKey(asset), day) == held, (asset, day)
