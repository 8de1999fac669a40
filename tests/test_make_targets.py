"""The README's commands, run as a user runs them (slow: subprocesses, a real webserver and daemon)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from mlops_assets.lib.versioned_store import LocalStore
from tests.conftest import PROJECT_ROOT, expected_rows
from tests.processes import free_port, stop_group
from tests.store_links import object_of, open_on

pytestmark = pytest.mark.slow


def test_make_demo_lands_and_publishes_every_asset(tmp_path):
    home = tmp_path / "mlops"
    env = {**os.environ, "MLOPS_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        ["make", "demo"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "[1/7] landing 2013-01-01..2013-01-28" in out
    assert "Summary" in out and "make dev" in out
    # Only what a person reads: no dbt log, no MLflow chatter, no beta warnings.
    for noise in (
        "Running with dbt=",
        "Successfully registered model",
        "BetaWarning",
        "Downloading artifacts",
    ):
        assert noise not in done.stdout + done.stderr, noise
    flights_rows = sum(expected_rows("flights", f"2013-01-{d:02d}") for d in range(1, 29))
    scored_rows = sum(expected_rows("flights", f"2013-01-{d:02d}") for d in range(22, 29))
    assert f"{'raw/flights':<38} {28:>10} {flights_rows:>12,}" in out
    assert f"{'features/flight_features':<38} {28:>10} {flights_rows:>12,}" in out
    assert f"{'predictions/late_arrival':<38} {7:>10} {scored_rows:>12,}" in out
    assert f"{'monitoring/late_arrival/summary':<38} {1:>10} {1:>12,}" in out
    model_line = next((line for line in out.splitlines() if "models/late_arrival v1:" in line), "")
    assert "roc_auc=" in model_line and "pr_auc=" in model_line, out[-4000:]
    assert "[4/7] materializing models" in out
    # The reports and the overview are objects of the store, linked with lakeFS's object route;
    # the overview's link, at main, opens from the store browser `make dev` serves.
    store = LocalStore(home / "store")
    assert store.object_exists("main", "monitoring/late_arrival/daily_report/date=2013-01-28/report.html")
    overview = next(line for line in out.splitlines() if "model overview  :" in line).split()[3]
    assert "monitoring/overview: http://127.0.0.1:3001/api/v1/repositories/mlops/refs/" in out
    assert object_of(overview) == (store.get_commit("main").id, "monitoring/overview/overview.html")
    assert 'data-spec="late_arrival"' in open_on(store, overview)[1].decode()
    assert len(store.list_objects("main", "raw/weather/")) == 28
    assert (home / "dagster" / "dagster.yaml").exists()  # the UI will find these runs

    # The dbt step: every dbt test passed, and the marts hold the scored week for both specs.
    dbt_line = next((line for line in out.splitlines() if "dbt tests:" in line), "")
    passed, _, total = dbt_line.split("dbt tests:")[1].split(" passed")[0].strip().partition(" of ")
    assert passed == total and int(total) >= 40, dbt_line
    import duckdb

    with duckdb.connect(str(home / "dbt" / "warehouse.duckdb"), read_only=True) as con:
        days = con.sql(
            "select spec, count(distinct date) from marts.fct_model_daily_performance group by spec"
        ).fetchall()
    assert dict(days) == {"late_arrival": 7, "arrival_delay": 7}

    # The analysts' commands from the README, through the CLI (the mirror is synced first); on a
    # copy of the project, since dbt writes its target/ (other tests read the manifest meanwhile).
    project = tmp_path / "dbt_project"
    shutil.copytree(PROJECT_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    for args in (["build", "--select", "fct_model_daily_performance"], ["docs", "generate"]):
        ran = subprocess.run(
            [sys.executable, "-m", "mlops_assets", "dbt", *args],
            cwd=PROJECT_ROOT,
            env={**env, "MLOPS_DBT_PROJECT_DIR": str(project)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        assert "mirror of main at" in ran.stdout
    assert (project / "target" / "catalog.json").exists()


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_make_dev_serves_the_asset_graph(tmp_path):
    port, mlflow_port = free_port(), free_port()
    env = {
        **os.environ,
        "MLOPS_HOME": str(tmp_path / "mlops"),
        "DAGSTER_PORT": str(port),
        "MLFLOW_PORT": str(mlflow_port),
    }
    env.pop("DAGSTER_HOME", None)
    server = subprocess.Popen(
        ["make", "dev"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # dagster dev's children outlive SIGTERM: end the whole group
    )
    try:
        keys: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and "raw/flights" not in keys:
            try:
                answer = _graphql(port, "{ assetNodes { assetKey { path } groupName } }")
                keys = ["/".join(n["assetKey"]["path"]) for n in answer["data"]["assetNodes"]]
            except (OSError, KeyError, TypeError):
                time.sleep(1)
        assert {"raw/flights", "raw/weather", "raw/airports", "raw/planes", "raw/airlines"} <= set(keys)
        assert (tmp_path / "mlops" / "dagster" / "dagster.yaml").exists()
        # The MLflow UI beside it, over the embedded store, and the code location links to it.
        with urllib.request.urlopen(f"http://127.0.0.1:{mlflow_port}/health", timeout=10) as response:
            assert response.read().strip() == b"OK"
        answer = _graphql(
            port,
            '{ assetNodes(assetKeys: [{path: ["models", "late_arrival"]}]) { requiredResources { resourceKey } } }',
        )
        assert "mlflow" in {r["resourceKey"] for r in answer["data"]["assetNodes"][0]["requiredResources"]}
        configured = _graphql(
            port,
            "{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError { ... on RepositoryLocation "
            "{ repositories { allTopLevelResourceDetails { name configuredValues { key value } } } } } } } } }",
        )
        resources = configured["data"]["workspaceOrError"]["locationEntries"][0]["locationOrLoadError"]
        mlflow = next(
            r for r in resources["repositories"][0]["allTopLevelResourceDetails"] if r["name"] == "mlflow"
        )
        values = {v["key"]: v["value"] for v in mlflow["configuredValues"]}
        assert values["ui_url"].strip('"') == f"http://127.0.0.1:{mlflow_port}"
    finally:
        stop_group(server, grace_seconds=30)
    # Stopping `make dev` stops the MLflow UI it started (its own process group).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{mlflow_port}/health", timeout=2).close()
            time.sleep(0.5)
        except OSError:
            break
    else:
        raise AssertionError("the MLflow UI outlived make dev")
