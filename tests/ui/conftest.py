"""A real state served by the real webserver and daemon, for the UI tests (browser and GraphQL).

State: 2013-03-01..14 published (dimensions, raw, features), both models trained, and 2013-03-15..17
landed but not materialized (the backfill target). The webserver starts first; the sensors that
would act on their own (landing_zone would request the landed days, automation_conditions would
run downstream, retrain_models could retrain) are stopped through its GraphQL `stopSensor`, and
only then the daemon starts, so that every run in the test comes from the backfill the test launches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from mlops_assets.instance import prepare_instance
from mlops_assets.lib.landing import land_days
from mlops_assets.settings import Settings, load_settings
from tests.conftest import PROJECT_ROOT, QUIET, build_world
from tests.dagster_dev import LOCATION, REPOSITORIES
from tests.processes import free_port, stop_group

PUBLISHED = ("2013-03-01", "2013-03-14")
BACKFILL_DAYS = ["2013-03-15", "2013-03-16", "2013-03-17"]
RAW_DAILY = [dg.AssetKey(["raw", "flights"]), dg.AssetKey(["raw", "weather"])]
SENSORS_TO_STOP = (
    "landing_zone",
    "automation_conditions",
    "feature_automation",
    "retrain_models",
    "serve_new_models",
)
SERVER_TIMEOUT = 120


@dataclass
class World:
    settings: Settings
    instance: dg.DagsterInstance
    port: int
    logs: Path
    stopped_sensors: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            payload = json.loads(answer.read())
        assert not payload.get("errors"), f"GraphQL errors: {payload['errors']}"
        return payload["data"]

    def materialized_partitions(self, key: dg.AssetKey, partitions: list[str]) -> list[str]:
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=100
        ).records
        return sorted({r.partition_key for r in records})


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"{process.args[0]} exited with {process.returncode}; log {log}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s; log {log}:\n{log.read_text()[-3000:]}")


def _start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    handle = log.open("wb")
    try:
        return subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        handle.close()  # the child keeps its own descriptor


SENSORS_QUERY = """
query Sensors($selector: RepositorySelector!) {
  sensorsOrError(repositorySelector: $selector) {
    __typename
    ... on Sensors { results { name sensorState { id status } } }
    ... on PythonError { message }
  }
}"""

STOP_SENSOR = """
mutation Stop($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
  }
}"""


def _stop_sensors(world: World) -> dict[str, str]:
    nodes = world.graphql(REPOSITORIES)["repositoriesOrError"]["nodes"]
    repository = next(n["name"] for n in nodes if n["location"]["name"] == LOCATION)
    selector = {"repositoryLocationName": LOCATION, "repositoryName": repository}
    sensors = world.graphql(SENSORS_QUERY, {"selector": selector})["sensorsOrError"]
    assert sensors["__typename"] == "Sensors", sensors
    by_name = {s["name"]: s["sensorState"] for s in sensors["results"]}
    missing = [n for n in SENSORS_TO_STOP if n not in by_name]
    assert not missing, f"sensors not found in the code location: {missing} (have {sorted(by_name)})"
    for name in SENSORS_TO_STOP:
        result = world.graphql(STOP_SENSOR, {"id": by_name[name]["id"]})["stopSensor"]
        assert result["__typename"] == "StopSensorMutationResult", result
    # Read back: the stored state must say STOPPED, or the daemon would run them.
    after = world.graphql(SENSORS_QUERY, {"selector": selector})["sensorsOrError"]["results"]
    status = {s["name"]: s["sensorState"]["status"] for s in after}
    assert all(status[n] == "STOPPED" for n in SENSORS_TO_STOP), status
    return status


def break_landed_flights(landing: Path, day: str) -> Path:
    """Upstream delivers one bad day: a negative distance, which the raw/flights contract rejects."""
    path = landing / "flights" / f"{day}.parquet"
    frame = pl.read_parquet(path)
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(-100.0).otherwise(pl.col("distance")).alias("distance")
    ).write_parquet(path)
    return path


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("ui_world")
    home = root / "mlops"
    settings = load_settings({"MLOPS_HOME": str(home)})
    previous = os.environ.get("DAGSTER_HOME")
    dagster_home = prepare_instance(settings)  # sets DAGSTER_HOME in os.environ; restored below
    processes: list[subprocess.Popen] = []
    started = time.monotonic()
    try:
        with dg.DagsterInstance.get() as instance:
            defs = build_world(settings, instance, *PUBLISHED)
            assert (
                defs.resolve_job_def("train_models")
                .execute_in_process(instance=instance, run_config=QUIET)
                .success
            )
            # Landed, not materialized: what the backfill will publish.
            land_days(
                settings.landing_dir,
                date.fromisoformat(BACKFILL_DAYS[0]),
                date.fromisoformat(BACKFILL_DAYS[-1]),
            )
            bad_day = getattr(request.module, "BAD_LANDED_DAY", None)  # a test module may ask for one bad day
            if bad_day:
                break_landed_flights(settings.landing_dir, bad_day)
            print(f"\n[ui] state built in {time.monotonic() - started:.1f} s under {home}")

            port = free_port()
            world = World(settings=settings, instance=instance, port=port, logs=root)
            env = {**os.environ, "MLOPS_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
            bin_dir = Path(sys.executable).parent
            webserver_log = root / "webserver.log"
            processes.append(
                _start(
                    [
                        str(bin_dir / "dagster-webserver"),
                        "-w",
                        "workspace.yaml",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port),
                    ],
                    env,
                    webserver_log,
                )
            )
            _wait_http(f"{world.url}/server_info", processes[0], webserver_log, SERVER_TIMEOUT)
            world.stopped_sensors = _stop_sensors(world)
            processes.append(
                _start(
                    [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, root / "daemon.log"
                )
            )
            print(
                f"[ui] webserver {world.url} and daemon up after {time.monotonic() - started:.1f} s; "
                f"sensors: {world.stopped_sensors}; logs in {root}"
            )
            yield world
    finally:
        for process in reversed(processes):
            stop_group(process)
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
