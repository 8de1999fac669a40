"""Production keeps its state: pods come and go, what users need lives in the shared services.

Each "pod" is a process (tests/pod.py) with its own, emptied MLOPS_HOME and DAGSTER_HOME, deleted
when it is done, in production mode (MLOPS_ENV=prod). The pods share only what production shares: a
real PostgreSQL server (Dagster's run history, and the analysts' warehouse in another database), the
versioned store (lakeFS, the in-process fake speaking its REST API), a real `mlflow server`, and the
landing zone (a ReadWriteMany volume in production). Pod A builds 2013-09-12 into the marts, pod B
2013-09-13; afterwards the marts hold both days, the report of 09-12 opens from the link on its
materialization although pod A is gone, and no pod wrote into the image's dbt project. Two dbt runs
at once (serialized) while an analyst reads (never an error, never a partial table) are in
tests/test_warehouse.py, on the same kind of pods.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml

from mlops_assets.lakefs_server import S3Blockstore
from mlops_assets.settings import MODELS_DIR, load_settings
from tests.conftest import PROJECT_ROOT, land
from tests.deploy.postgres_server import PostgresServer
from tests.lakefs_service import lakefs_service_in
from tests.processes import SERVER_LOG, mlflow_server
from tests.s3_server import object_store
from tests.store_links import object_of

pytestmark = pytest.mark.extended  # `make test-extended`, run by CI after `make test`

SPEC = "late_arrival"
REPORT = f"monitoring/{SPEC}/daily_report"
DAY_A, DAY_B = "2013-09-12", "2013-09-13"
FIRST_DAY = "2013-09-02"
POD_SECONDS = 420
WAREHOUSE_SETUP_SQL = re.search(
    r"```sql\n(.*?)```", (PROJECT_ROOT / "deploy" / "README.md").read_text(), re.S
)[1]
WRITER_PASSWORD, ANALYST_PASSWORD = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
MART = "marts.fct_model_daily_performance"


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    root = tmp_path_factory.mktemp("production")
    models = root / "models"  # one model keeps the pods quick; every model takes the same path
    shutil.copytree(MODELS_DIR / SPEC, models / SPEC)
    spec = models / SPEC / "defs.yaml"  # ten days of training data are enough to score a day
    text = spec.read_text()
    assert "window_days: 60" in text and "holdout_days: 7" in text
    spec.write_text(
        text.replace("window_days: 60", "window_days: 10").replace("holdout_days: 7", "holdout_days: 3")
    )
    # The image's dbt project, prepared at build time, is read-only in a pod: nothing may be written there.
    project = root / "dbt_project"
    shutil.copytree(PROJECT_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("logs"))
    postgres = PostgresServer.start()
    try:
        postgres.create_database("dagster")
        # The analysts' warehouse as deploy/README.md sets it up: a writer role for dbt, the writers'
        # lock only it may take, a read-only analyst role, PUBLIC without CONNECT or TEMPORARY.
        postgres.create_database("mlops_warehouse")
        postgres.query(
            "mlops_warehouse",
            WAREHOUSE_SETUP_SQL.replace("dbt-writer-password", WRITER_PASSWORD).replace(
                "analyst-password", ANALYST_PASSWORD
            ),
        )
        with ExitStack() as stack:
            # Production's object store, where there is one to run (SeaweedFS, built from its Go
            # module): lakeFS's blockstore, MLflow's artifacts and Dagster's compute logs.
            s3 = object_store(stack, root / "s3")
            blockstore = (
                S3Blockstore(s3.endpoint, s3.access_key_id, s3.secret_access_key, "lakefs") if s3 else None
            )
            lakefs = stack.enter_context(lakefs_service_in(root / "lakefs", blockstore))
            s3_env = (
                {
                    "AWS_ACCESS_KEY_ID": s3.access_key_id,
                    "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
                    "AWS_DEFAULT_REGION": "us-east-1",
                }
                if s3
                else {}
            )
            tracking = stack.enter_context(
                mlflow_server(
                    root / "mlflow",
                    artifacts_destination="s3://mlflow/artifacts" if s3 else None,
                    environment={**s3_env, "MLFLOW_S3_ENDPOINT_URL": s3.endpoint} if s3 else None,
                )
            )
            shared = {
                "MLOPS_ENV": "prod",
                "MLOPS_EXECUTOR": "in_process",  # a run pod's steps, here in the pod's own process
                "MLOPS_LANDING_DIR": str(root / "landing"),
                "MLOPS_MODELS_DIR": str(models),
                "MLOPS_DBT_PROJECT_DIR": str(project),
                "LAKEFS_ENDPOINT": lakefs.endpoint,
                "LAKEFS_ACCESS_KEY_ID": lakefs.access_key_id,
                "LAKEFS_SECRET_ACCESS_KEY": lakefs.secret_access_key,
                "LAKEFS_REPOSITORY": "mlops",
                "LAKEFS_STORAGE_NAMESPACE": blockstore.namespace("mlops") if blockstore else "local://mlops",
                "MLFLOW_TRACKING_URI": tracking,
                # A tracking call that gets no answer fails the pod within its time, with MLflow's
                # error, instead of MLflow's default budget (120 s, 7 retries: about 20 minutes).
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                "DAGSTER_PG_HOST": postgres.host,
                "DAGSTER_PG_USERNAME": postgres.user,
                "DAGSTER_PG_PASSWORD": postgres.password,
                "DAGSTER_PG_DB": "dagster",
                "MLOPS_WAREHOUSE_PG_HOST": postgres.host,
                "MLOPS_WAREHOUSE_PG_PORT": str(postgres.port),
                "MLOPS_WAREHOUSE_PG_DB": "mlops_warehouse",
                "MLOPS_WAREHOUSE_PG_USERNAME": "mlops_dbt",
                "MLOPS_WAREHOUSE_PG_PASSWORD": WRITER_PASSWORD,
            }
            # The operator's one-time setup, with the admin's key: the repository, and main protected so
            # that lakeFS itself refuses anything but the write-audit-publish merge.
            setup = subprocess.run(
                [sys.executable, "-m", "mlops_assets", "setup-store"],
                env={**os.environ, **shared},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert setup.returncode == 0 and "main is protected" in setup.stdout, setup.stdout + setup.stderr
            # Upstream delivers into the shared landing zone.
            land(
                load_settings(
                    {"MLOPS_HOME": str(root / "upstream"), "MLOPS_LANDING_DIR": shared["MLOPS_LANDING_DIR"]}
                ),
                FIRST_DAY,
                DAY_B,
            )
            if s3:
                shared |= s3_env | {
                    "DAGSTER_COMPUTE_LOGS_BUCKET": "compute-logs",
                    "DAGSTER_COMPUTE_LOGS_PREFIX": "dagster",
                    "DAGSTER_COMPUTE_LOGS_ENDPOINT": s3.endpoint,
                }
            yield {
                "root": root,
                "s3": s3,
                "env": shared,
                "postgres": postgres,
                "lakefs": lakefs,
                "project": project,
                "tracking_log": root / "mlflow" / SERVER_LOG,
            }
    finally:
        postgres.stop()


def _instance_config(production: dict, dagster_home: Path) -> dict:
    """deploy/dagster.yaml, with runs launched in the pod's own process (no cluster here), the
    throwaway server's port, and the compute logs staged on the pod's own disk before their upload
    (no object store to upload to: none kept)."""
    config = copy.deepcopy(yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text()))
    config["storage"]["postgres"]["postgres_db"]["port"] = production["postgres"].port
    config["run_launcher"] = {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"}
    if production["s3"]:
        config["compute_logs"]["config"]["local_dir"] = str(dagster_home / "storage" / "compute_logs")
    else:
        config["compute_logs"] = {
            "module": "dagster.core.storage.noop_compute_log_manager",
            "class": "NoOpComputeLogManager",
        }
    return config


def _start_pod(production: dict, name: str, plan: list[dict]) -> tuple[subprocess.Popen, Path]:
    home = production["root"] / "pods" / name
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(_instance_config(production, dagster_home)))
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MLOPS_", "DAGSTER_", "LAKEFS_", "MLFLOW_"))
        },
        **production["env"],
        "MLOPS_HOME": str(home / "mlops"),
        "DAGSTER_HOME": str(dagster_home),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.pod", json.dumps(plan)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, home


def _finish_pod(process: subprocess.Popen, home: Path, tracking_log: Path) -> list[dict]:
    """Wait for the pod, then delete its disk, as Kubernetes does with an emptyDir."""
    try:
        out, err = process.communicate(timeout=POD_SECONDS)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)  # tests/pod.py prints every thread's stack
        time.sleep(2)
        process.kill()
        out, err = process.communicate(timeout=60)
        pytest.fail(
            f"pod {home.name} still running after {POD_SECONDS} s; its runs: {out}\n{err[-12000:]}\n"
            f"mlflow server, last lines:\n{tracking_log.read_text(errors='replace')[-4000:]}"
        )
    print(f"[pod] {home.name}: done at {time.monotonic():.0f} s")
    shutil.rmtree(home)
    runs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert process.returncode == 0 and all(r["success"] for r in runs), (runs, err[-3000:])
    return runs


def _pod(production: dict, name: str, plan: list[dict]) -> list[dict]:
    return _finish_pod(*_start_pod(production, name, plan), production["tracking_log"])


@contextmanager
def _dagster(production: dict) -> Iterator[dg.DagsterInstance]:
    """Dagster's history as the webserver reads it: the production instance on the shared Postgres."""
    home = production["root"] / "webserver"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(_instance_config(production, home)))
    variables = {
        k: v
        for k, v in production["env"].items()
        if k.startswith(("DAGSTER_PG_", "DAGSTER_COMPUTE_LOGS_", "AWS_"))
    }
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def _analyst(production: dict):
    postgres = production["postgres"]
    return psycopg2.connect(
        host=postgres.host,
        port=postgres.port,
        dbname="mlops_warehouse",
        user="analyst",
        password=ANALYST_PASSWORD,
    )


def _days_in_marts(production: dict) -> list[str]:
    with _analyst(production) as con, con.cursor() as cursor:
        cursor.execute(f"select distinct cast(date as text) from {MART} where spec = %s order by 1", (SPEC,))
        return [row[0] for row in cursor.fetchall()]


def _scored(day: str) -> dict:
    return {"job": "daily_assets", "range": [day, day], "assets": [f"predictions/{SPEC}", REPORT]}


def _marts(first: str, last: str) -> dict:
    return {"job": "dbt_marts", "range": [first, last]}


@pytest.mark.slow
def test_pods_come_and_go_and_production_keeps_its_state(production):
    raw_and_features = ["raw/flights", "raw/weather", "features/flight_features"]
    prepared = subprocess.run(  # as the image build does
        [sys.executable, "-m", "mlops_assets", "prepare-dbt"],
        env={**os.environ, "MLOPS_DBT_PROJECT_DIR": str(production["project"])},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    files_before = _files(production["project"])
    # A first pod publishes the dimensions, raw days and features, and trains the model.
    _pod(
        production,
        "setup",
        [
            {"job": "raw_dimensions"},
            {"job": "daily_assets", "range": [FIRST_DAY, DAY_A], "assets": raw_and_features},
            {"job": f"retrain_{SPEC}_now"},
        ],
    )
    # Pod A scores and monitors day A and builds it into the marts; then it is gone.
    _pod(production, "a", [_scored(DAY_A), _marts(DAY_A, DAY_A)])
    assert _days_in_marts(production) == [DAY_A]
    # Pod B, another empty disk: day B's data lands, is scored and built into the same marts.
    _pod(
        production,
        "b",
        [
            {"job": "daily_assets", "range": [DAY_B, DAY_B], "assets": raw_and_features},
            _scored(DAY_B),
            _marts(DAY_B, DAY_B),
        ],
    )
    assert _days_in_marts(production) == [DAY_A, DAY_B]

    # Day A's report opens from the link on its materialization (Dagster's history in Postgres),
    # served by the versioned store, although the pod that wrote it is gone.
    lakefs = production["lakefs"]
    with _dagster(production) as instance:
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(REPORT.split("/")), asset_partitions=[DAY_A]), limit=1
        ).records[0]
    link = record.asset_materialization.metadata["html_report"].value
    assert link.startswith(lakefs.endpoint) and object_of(link)[1].endswith(f"date={DAY_A}/report.html")
    request = urllib.request.Request(link)
    token = base64.b64encode(f"{lakefs.access_key_id}:{lakefs.secret_access_key}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")  # what the lakeFS UI's session stands for
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"] == "text/html"
        assert f"{SPEC} monitoring report {DAY_A}" in response.read().decode()

    # The pods wrote only to their own disks: the image's dbt project is as it was built.
    assert _files(production["project"]) == files_before


def test_production_objects_logs_and_artifacts_are_in_the_object_store(production):
    """Run after the pods above: lakeFS's objects, MLflow's artifacts and the runs' stdout/stderr
    are objects of the S3-compatible store, where production keeps them (deploy/dagster.yaml)."""
    s3 = production["s3"]
    if s3 is None:
        pytest.skip("no S3-compatible server here (SeaweedFS needs Go and the real lakeFS)")
    client = s3.client()

    def keys(bucket: str, prefix: str = "") -> list[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [entry["Key"] for page in pages for entry in page.get("Contents", [])]

    assert keys("lakefs", "mlops/"), "lakeFS stores the repository's objects in the bucket"
    assert any(key.endswith("MLmodel") for key in keys("mlflow", "artifacts/")), "the model's artifacts"
    logs = keys("compute-logs", "dagster/")
    assert any(key.endswith(".err") for key in logs) and any(key.endswith(".out") for key in logs), logs[:20]
