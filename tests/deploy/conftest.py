"""Fixtures of the deployment checks: paths, YAML, a throwaway Postgres server, the checkov tool."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .postgres_server import PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
# Kubernetes version whose OpenAPI schemas the manifests are validated against (kubernetes-validate
# ships the schemas of 1.25 to 1.37 in its wheel: no network).
K8S_VERSION = "1.31"


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def read_yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def write_kubeconfig(path: Path) -> Path:
    """A kubeconfig for a K8sRunLauncher outside a cluster; nothing contacts its server."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "test", "user": {"token": "unused"}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
            }
        )
    )
    return path


def code_deployment(values: dict) -> dict:
    """The one user code deployment of deploy/helm/values.yaml."""
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_env(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh database, exposed through the DAGSTER_PG_* variables the production dagster.yaml reads."""
    name = f"dagster_{uuid.uuid4().hex[:12]}"
    postgres.create_database(name)
    env = {
        "DAGSTER_PG_HOST": postgres.host,
        "DAGSTER_PG_USERNAME": postgres.user,
        "DAGSTER_PG_PASSWORD": postgres.password,
        "DAGSTER_PG_DB": name,
        # The production instance's compute-log bucket (S3ComputeLogManager); nothing is uploaded here.
        "DAGSTER_COMPUTE_LOGS_BUCKET": "dagster-compute-logs",
        "DAGSTER_COMPUTE_LOGS_PREFIX": "mlops-assets",
        "DAGSTER_COMPUTE_LOGS_ENDPOINT": "http://127.0.0.1:9",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def checkov() -> Path:
    """checkov from its own virtualenv (.venv-tools/checkov), installed on first use."""
    done = subprocess.run(
        ["bash", str(DEPLOY / "scripts" / "ensure_checkov.sh")],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHON": sys.executable},
    )
    if done.returncode != 0:
        pytest.fail(
            f"could not install checkov with deploy/scripts/ensure_checkov.sh:\n{done.stderr[-3000:]}"
        )
    return Path(done.stdout.strip().splitlines()[-1])
