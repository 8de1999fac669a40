"""Training against a real ``mlflow server`` on 127.0.0.1 (tracking + registry + artifact proxy)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import dagster as dg
import pytest
from mlflow import MlflowClient

from mlops_assets.definitions import build_definitions
from mlops_assets.settings import load_settings
from tests.conftest import PROJECT_ROOT, build_world
from tests.processes import mlflow_server as start_mlflow_server

pytestmark = pytest.mark.slow
LATE = dg.AssetKey(["models", "late_arrival"])


@pytest.fixture
def mlflow_server(tmp_path) -> Iterator[str]:
    with start_mlflow_server(tmp_path) as url:
        yield url


def test_training_registers_on_a_real_mlflow_server(mlflow_server, tmp_path):
    settings = load_settings({"MLOPS_HOME": str(tmp_path / "mlops"), "MLFLOW_TRACKING_URI": mlflow_server})
    with dg.instance_for_test() as instance:
        build_world(settings, instance, "2013-09-01", "2013-09-12")
        defs = build_definitions(settings)
        result = defs.resolve_implicit_job_def_def_for_assets([LATE]).execute_in_process(
            instance=instance, asset_selection=[LATE], raise_on_error=False
        )
        assert result.success
        mat = instance.get_latest_materialization_event(LATE).asset_materialization

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    champion = client.get_model_version_by_alias("late_arrival", "champion")
    assert str(champion.version) == "1"
    assert champion.tags["mlops.training_data_commit"] == mat.metadata["training_data_commit"].value
    # Links in the UI point at the server's pages.
    assert mat.metadata["mlflow_run_url"].value.startswith(f"{mlflow_server}/#/experiments/")
    assert (
        mat.metadata["mlflow_model_version_url"].value == f"{mlflow_server}/#/models/late_arrival/versions/1"
    )
    # The artifacts went through the server's proxy, not to a local directory.
    assert not (settings.mlflow_artifact_dir).exists()
    assert any((tmp_path / "server-artifacts").rglob("MLmodel"))

    done = subprocess.run(
        [sys.executable, "-m", "mlops_assets", "explain-model", "late_arrival", "1"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MLOPS_HOME": str(settings.home), "MLFLOW_TRACKING_URI": mlflow_server},
    )
    assert done.returncode == 0, done.stderr
    assert mat.metadata["training_data_commit"].value in done.stdout
