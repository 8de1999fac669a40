"""Planted secrets are found on no surface after a full run.

Every secret setting holds a known fake value: the lakeFS secret key (the in-process lakeFS
server checks it), a tracking URI with user:password (a real ``mlflow server`` on 127.0.0.1, which
ignores the credentials), the Postgres password, and a webhook URL whose path is a token (a local
HTTP server receives the alert). Then raw data, features, training, scoring, monitoring and a
failing run with its alert happen, and every surface is searched for every secret: the Dagster
instance's files (event log, run tags, job snapshots, compute logs), the run-failure messages,
the MLflow server's database and artifacts, lakeFS commit metadata on every branch, the alert
payloads, and everything under MLOPS_HOME (HTML reports, the published mirror, caches).
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.lib.versioned_store.lakefs import LakeFSStore
from mlops_assets.platform.automation.sensors import alert_on_run_failure
from mlops_assets.resources.alerts import AlertResource
from mlops_assets.settings import load_settings
from tests.conftest import DATA_KEYS, QUIET, RANGE_END, RANGE_START, failure_text, land
from tests.lakefs_fake import FakeLakeFS
from tests.processes import mlflow_server

pytestmark = pytest.mark.slow

LAKEFS_SECRET = "lakefs-SECRET-5f1e2d9a"
TRACKING_PASSWORD = "mlflow-PASSWORD-8c7b31"
PG_PASSWORD = "pg-PASSWORD-2a9f64"
WEBHOOK_TOKEN = "hook-TOKEN-77e1c0"
SECRETS = [LAKEFS_SECRET, TRACKING_PASSWORD, PG_PASSWORD, WEBHOOK_TOKEN]
LATE = dg.AssetKey(["models", "late_arrival"])


class _Webhook(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _found_in_files(root: Path) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{secret} in {path}" for secret in SECRETS if secret.encode() in data]
    return hits


def _found_in_text(surface: str, text: str) -> list[str]:
    return [f"{secret} in {surface}" for secret in SECRETS if secret in text]


@pytest.fixture
def mlflow_with_password(tmp_path):
    root = tmp_path / "mlflow-server"
    with mlflow_server(root) as url:
        yield url.replace("http://", f"http://mlops:{TRACKING_PASSWORD}@"), root


def test_planted_secrets_appear_on_no_surface(tmp_path, monkeypatch, mlflow_with_password):
    tracking_uri, mlflow_root = mlflow_with_password
    _Webhook.received = []
    hook = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    webhook_url = f"http://127.0.0.1:{hook.server_port}/hooks/{WEBHOOK_TOKEN}"
    home = tmp_path / "mlops"
    try:
        with FakeLakeFS(secret_access_key=LAKEFS_SECRET) as lakefs, dg.instance_for_test() as instance:
            environ = {
                "MLOPS_HOME": str(home),
                "LAKEFS_ENDPOINT": lakefs.endpoint,
                "LAKEFS_ACCESS_KEY_ID": lakefs.access_key_id,
                "LAKEFS_SECRET_ACCESS_KEY": LAKEFS_SECRET,
                "LAKEFS_REPOSITORY": "flights",
                "MLFLOW_TRACKING_URI": tracking_uri,
                "DAGSTER_PG_PASSWORD": PG_PASSWORD,
                "MLOPS_ALERT_WEBHOOK_URL": webhook_url,
            }
            for name, value in environ.items():  # resources read secrets from the environment (dg.EnvVar)
                monkeypatch.setenv(name, value)
            settings = load_settings(environ)
            land(settings, "2013-09-01", "2013-09-13")
            defs = build_definitions(settings)
            resources = {name: repr(resource) for name, resource in (defs.resources or {}).items()}

            def run(job: str, **kwargs) -> dg.ExecuteInProcessResult:
                return defs.resolve_job_def(job).execute_in_process(
                    instance=instance, run_config=QUIET, raise_on_error=False, **kwargs
                )

            assert run("raw_dimensions").success
            data = run(
                "daily_assets",
                asset_selection=DATA_KEYS,
                tags={RANGE_START: "2013-09-01", RANGE_END: "2013-09-13"},
            )
            assert data.success, failure_text(data)
            trained = run("retrain_late_arrival_now")
            assert trained.success, failure_text(trained)
            scored = run(
                "daily_assets",
                asset_selection=[
                    dg.AssetKey(["predictions", "late_arrival"]),
                    dg.AssetKey(["monitoring", "late_arrival", "daily_report"]),
                ],
                tags={RANGE_START: "2013-09-12", RANGE_END: "2013-09-13"},
            )
            assert scored.success, failure_text(scored)
            # A failing run (a broken landed file) and its alert.
            (settings.landing_dir / "flights" / "2013-09-13.parquet").write_bytes(b"not parquet")
            failed = run("raw_daily", tags={RANGE_START: "2013-09-13", RANGE_END: "2013-09-13"})
            assert not failed.success
            failure = next(e for e in failed.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
            context = dg.build_run_status_sensor_context(
                sensor_name="alert_on_run_failure",
                dagster_event=failure,
                dagster_instance=instance,
                dagster_run=failed.dagster_run,
                resources={"alerts": AlertResource(webhook_url=webhook_url)},
            ).for_run_failure()
            alert_on_run_failure(context)
            assert len(_Webhook.received) == 1, "the alert reached the webhook"

            hits: list[str] = []
            for record in instance.get_run_records():
                run_ = record.dagster_run
                hits += _found_in_text(f"run {run_.run_id} tags", json.dumps(run_.tags))
                hits += _found_in_text(
                    f"run {run_.run_id} event log", "\n".join(str(e) for e in instance.all_logs(run_.run_id))
                )
            hits += _found_in_text("failure messages", failure_text(failed))
            hits += _found_in_text("resource configuration", json.dumps(resources))
            hits += _found_in_files(Path(instance.root_directory))  # event log db, snapshots, compute logs
            store = LakeFSStore(
                lakefs.endpoint, lakefs.access_key_id, LAKEFS_SECRET, "flights", "local://flights"
            )
            for branch in store.list_branches():
                for commit in store.log(branch.name):
                    hits += _found_in_text(
                        f"lakeFS commit {commit.id}", json.dumps(commit.metadata) + commit.message
                    )
            pages = [o.path for o in store.list_objects("main") if o.path.endswith(".html")]
            assert pages, "HTML reports were published to the store and searched"
            for page in pages:
                hits += _found_in_text(f"lakeFS object {page}", store.read_object("main", page).decode())
            assert lakefs.unknown_calls == []
        hits += _found_in_files(mlflow_root)  # MLflow params, tags, model version tags, artifacts
        hits += [f"{s} in alert payload" for body in _Webhook.received for s in SECRETS if s.encode() in body]
        hits += _found_in_files(home)  # published mirror, caches, logs
    finally:
        hook.shutdown()
    for hit in hits:  # the line around each, to see where it came from
        path = Path(hit.split(" in ", 1)[1])
        if path.is_file() and path.suffix in (".out", ".err"):
            print(path.read_text(errors="replace")[:3000])
    assert hits == []


def test_tracking_credentials_never_travel_inside_the_uri(monkeypatch):
    """MLflow prints and records its tracking URI ("View run at ..."): the credentials are taken out
    and handed to MLflow through MLFLOW_TRACKING_USERNAME/PASSWORD instead."""
    from mlops_assets.lib.tracking.tracker import Tracker

    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, "unset")  # restored by monkeypatch after the test
    tracker = Tracker("https://mlops:tok%40en-SECRET@mlflow.example:5000/base")
    assert tracker.tracking_uri == "https://mlflow.example:5000/base"
    assert "SECRET" not in repr(tracker)
    assert tracker.run_url("1", "abc") == "https://mlflow.example:5000/base/#/experiments/1/runs/abc"
    tracker.client()  # no request is made here
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "mlops"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "tok@en-SECRET"
