"""Planted secrets are found on no surface after a full run.

Every secret setting holds a known fake value: the lakeFS secret key (the in-process lakeFS
server checks it), a tracking URI with user:password (a real ``mlflow server`` on 127.0.0.1, which
ignores the credentials), the Postgres password, and a webhook URL whose path is a token (a local
HTTP server receives the alert). Then raw data, features, training, scoring, monitoring and a
failing run with its alert happen, and every surface is searched for every secret: the Dagster
instance's files (event log, run tags, job snapshots, compute logs), the run-failure messages,
the MLflow server's database and artifacts, lakeFS commit metadata on every branch, the alert
payloads, and everything under MLOPS_HOME (HTML reports, the published mirror, caches).

The Dagster instance is the production one: its storage is a real Postgres server whose password is
the planted one (read from DAGSTER_PG_PASSWORD), and its tables are searched too. Secret variables
end with the newline `kubectl create secret --from-file` leaves. The repository snapshot (what the
UI's Resources page shows), stdout/stderr, Python logging, a webhook that fails and bad settings are
surfaces too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster_postgres import PostgresRunStorage

from mlops_assets.definitions import build_definitions
from mlops_assets.errors import SettingsError
from mlops_assets.lib.versioned_store.lakefs import LakeFSStore
from mlops_assets.platform.automation.sensors import alert_on_run_failure
from mlops_assets.resources.alerts import AlertResource
from mlops_assets.settings import load_settings
from tests.conftest import DATA_KEYS, QUIET, RANGE_END, RANGE_START, failure_text, land
from tests.deploy.conftest import DEPLOY
from tests.deploy.postgres_server import PostgresServer
from tests.lakefs_fake import FakeLakeFS
from tests.processes import mlflow_server

LAKEFS_SECRET = "lakefs-SECRET-5f1e2d9a"
TRACKING_PASSWORD = "mlflow-PASSWORD-8c7b31"
TRACKING_USER = "mlflow-USER-4d20aa"  # MLFLOW_TRACKING_USERNAME
TRACKING_ENV_PASSWORD = "mlflow-ENVPASSWORD-e5c912"  # MLFLOW_TRACKING_PASSWORD
TRACKING_TOKEN = "mlflow-TOKEN-93b0fe"  # MLFLOW_TRACKING_TOKEN
PG_PASSWORD = "pg-PASSWORD-2a9f64"
WEBHOOK_TOKEN = "hook-TOKEN-77e1c0"
SECRETS = [
    LAKEFS_SECRET,
    TRACKING_PASSWORD,
    TRACKING_USER,
    TRACKING_ENV_PASSWORD,
    TRACKING_TOKEN,
    PG_PASSWORD,
    WEBHOOK_TOKEN,
]
MOUNTED = "\n"  # what `kubectl create secret --from-file` leaves at the end of a value
LATE = dg.AssetKey(["models", "late_arrival"])


class _Webhook(BaseHTTPRequestHandler):
    received: list[bytes] = []

    status = 204

    def do_POST(self):
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(self.status)
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


def _repository_snapshot(defs: dg.Definitions) -> str:
    """The code location's repository as the webserver receives it: the UI's Resources page shows
    each resource's configured values from this snapshot."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    return serialize_value(RepositorySnap.from_def(defs.get_repository_def()))


def _postgres_instance_config(server: PostgresServer) -> dict:
    """The production instance's storage (deploy/dagster.yaml: every credential from DAGSTER_PG_*),
    on the throwaway server's port; runs launch in this process and step output stays in local files,
    so the compute logs can be searched too."""
    storage = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["storage"]
    storage["postgres"]["postgres_db"]["port"] = server.port
    return {"storage": storage, "telemetry": {"enabled": False}}


def _found_in_database(server: PostgresServer, dbname: str) -> list[str]:
    tables = server.query(dbname, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    hits = []
    for (table,) in tables:
        rows = "\n".join(row for (row,) in server.query(dbname, f'SELECT t::text FROM "{table}" t'))
        hits += _found_in_text(f"Postgres table {table}", rows)
    return hits


@pytest.fixture
def postgres_with_planted_password():
    server = PostgresServer.start(password=PG_PASSWORD)
    try:
        server.create_database("dagster")
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_planted_secrets_appear_on_no_surface(
    tmp_path, monkeypatch, capfd, caplog, mlflow_with_password, postgres_with_planted_password
):
    tracking_uri, mlflow_root = mlflow_with_password
    postgres = postgres_with_planted_password
    caplog.set_level(logging.DEBUG)
    _Webhook.received = []
    hook = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    webhook_url = f"http://127.0.0.1:{hook.server_port}/hooks/{WEBHOOK_TOKEN}"
    home = tmp_path / "mlops"
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(_postgres_instance_config(postgres)))
    try:
        with FakeLakeFS(secret_access_key=LAKEFS_SECRET) as lakefs:
            environ = {
                "MLOPS_HOME": str(home),
                "LAKEFS_ENDPOINT": lakefs.endpoint,
                "LAKEFS_ACCESS_KEY_ID": lakefs.access_key_id,
                "LAKEFS_SECRET_ACCESS_KEY": LAKEFS_SECRET + MOUNTED,
                "LAKEFS_REPOSITORY": "flights",
                "MLFLOW_TRACKING_URI": tracking_uri + MOUNTED,
                # Sent by MLflow as a bearer token beside the URI's basic auth; the test server ignores both.
                "MLFLOW_TRACKING_TOKEN": TRACKING_TOKEN + MOUNTED,
                "DAGSTER_PG_HOST": postgres.host,
                "DAGSTER_PG_USERNAME": postgres.user,
                "DAGSTER_PG_PASSWORD": PG_PASSWORD,  # read by Dagster itself, as given
                "DAGSTER_PG_DB": "dagster",
                "MLOPS_ALERT_WEBHOOK_URL": webhook_url + MOUNTED,
            }
            for name, value in environ.items():  # resources read secrets from the environment (dg.EnvVar)
                monkeypatch.setenv(name, value)
            settings = load_settings(environ)
            land(settings, "2013-09-01", "2013-09-13")
            defs = build_definitions(settings)
            resources = {name: repr(resource) for name, resource in (defs.resources or {}).items()}
            snapshot = _repository_snapshot(defs)
            assert "MLOPS_ALERT_WEBHOOK_URL" in snapshot and "MLFLOW_TRACKING_URI" in snapshot

            with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
                assert isinstance(instance.run_storage, PostgresRunStorage)

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
                # A failing run (a broken landed file) and its alert, through the code location's own
                # alerts resource (the webhook URL resolved from the environment, newline and all).
                (settings.landing_dir / "flights" / "2013-09-13.parquet").write_bytes(b"not parquet")
                failed = run("raw_daily", tags={RANGE_START: "2013-09-13", RANGE_END: "2013-09-13"})
                assert not failed.success
                failure = next(
                    e for e in failed.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE
                )
                with dg.build_resources({"alerts": defs.resources["alerts"]}) as built:
                    context = dg.build_run_status_sensor_context(
                        sensor_name="alert_on_run_failure",
                        dagster_event=failure,
                        dagster_instance=instance,
                        dagster_run=failed.dagster_run,
                        resources={"alerts": built.alerts},
                    ).for_run_failure()
                    alert_on_run_failure(context)
                    assert len(_Webhook.received) == 1, "the alert reached the webhook"
                    _Webhook.status = 500  # ...and once more, to a webhook that fails
                    alert_on_run_failure(context)
                    assert "alert webhook http://127.0.0.1:" in caplog.text, "the failure was logged"

                hits: list[str] = []
                for record in instance.get_run_records():
                    run_ = record.dagster_run
                    hits += _found_in_text(f"run {run_.run_id} tags", json.dumps(run_.tags))
                    hits += _found_in_text(
                        f"run {run_.run_id} event log",
                        "\n".join(str(e) for e in instance.all_logs(run_.run_id)),
                    )
                hits += _found_in_text("failure messages", failure_text(failed))
            hits += _found_in_text("resource configuration", json.dumps(resources))
            hits += _found_in_text("repository snapshot", snapshot)
            hits += _found_in_files(dagster_home)  # compute logs, local artifacts
            hits += _found_in_database(postgres, "dagster")  # runs, event log, snapshots
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
        _Webhook.status = 204
    output = capfd.readouterr()
    hits += _found_in_text("stdout", output.out) + _found_in_text("stderr", output.err)
    hits += _found_in_text("Python logging", caplog.text)
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


BASIC_AUTH_URI = f"https://mlops:{TRACKING_PASSWORD}@mlflow.example:5000/base"
SLACK_STYLE_WEBHOOK = f"https://hooks.example/services/T0/B0/{WEBHOOK_TOKEN}"


def test_settings_show_no_secret_in_repr_or_str(tmp_path):
    inline = load_settings(
        {
            "MLOPS_HOME": str(tmp_path),
            "MLFLOW_TRACKING_URI": BASIC_AUTH_URI,
            "MLOPS_ALERT_WEBHOOK_URL": SLACK_STYLE_WEBHOOK,
        }
    )
    from_variables = load_settings(
        {
            "MLOPS_HOME": str(tmp_path),
            "MLFLOW_TRACKING_URI": "https://mlflow.example:5000",
            "MLFLOW_TRACKING_USERNAME": TRACKING_USER,
            "MLFLOW_TRACKING_PASSWORD": TRACKING_ENV_PASSWORD,
            "MLFLOW_TRACKING_TOKEN": TRACKING_TOKEN,
        }
    )
    for settings in (inline, from_variables):
        shown = repr(settings) + str(settings) + str(settings.model_dump())
        assert _found_in_text("settings", shown) == []
    # The hosts still show: enough to tell which server a process talks to.
    assert "https://mlflow.example:5000/…" in repr(inline) and "https://hooks.example/…" in repr(inline)
    assert inline.mlflow_tracking_uri.get_secret_value() == BASIC_AUTH_URI
    assert inline.alert_webhook_url.get_secret_value() == SLACK_STYLE_WEBHOOK


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"MLOPS_ALERT_WEBHOOK_URL": f"hooks.example/services/{WEBHOOK_TOKEN}"}, "MLOPS_ALERT_WEBHOOK_URL"),
        ({"MLOPS_ALERT_WEBHOOK_URL": f"ftp://hooks.example/{WEBHOOK_TOKEN}"}, "MLOPS_ALERT_WEBHOOK_URL"),
        ({"MLFLOW_TRACKING_USERNAME": TRACKING_USER}, "MLFLOW_TRACKING_PASSWORD: required"),
        ({"MLFLOW_TRACKING_PASSWORD": TRACKING_ENV_PASSWORD}, "MLFLOW_TRACKING_USERNAME: required"),
        (
            {
                "MLFLOW_TRACKING_URI": BASIC_AUTH_URI,
                "MLFLOW_TRACKING_USERNAME": TRACKING_USER,
                "MLFLOW_TRACKING_PASSWORD": TRACKING_ENV_PASSWORD,
            },
            "MLFLOW_TRACKING_URI: carries user:password",
        ),
    ],
)
def test_bad_secret_settings_are_named_never_echoed(tmp_path, environ, named):
    with pytest.raises(SettingsError) as caught:
        load_settings({"MLOPS_HOME": str(tmp_path), **environ})
    assert named in str(caught.value)
    assert _found_in_text("the settings error", str(caught.value)) == []


def test_repository_snapshot_names_secret_variables_never_their_values(tmp_path, monkeypatch):
    """Secrets mounted from files end with a newline; the UI's Resources page (the repository
    snapshot) must still show the variable's name, and the resources must still work."""
    _Webhook.received = []
    hook = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    webhook_url = f"http://127.0.0.1:{hook.server_port}/hooks/{WEBHOOK_TOKEN}"
    environ = {
        "MLOPS_HOME": str(tmp_path / "mlops"),
        "LAKEFS_ENDPOINT": "http://127.0.0.1:9",  # never contacted: loading makes no request
        "LAKEFS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "LAKEFS_SECRET_ACCESS_KEY": LAKEFS_SECRET + MOUNTED,
        "MLFLOW_TRACKING_URI": "https://mlflow.example:5000" + MOUNTED,
        "MLFLOW_TRACKING_USERNAME": TRACKING_USER + MOUNTED,
        "MLFLOW_TRACKING_PASSWORD": TRACKING_ENV_PASSWORD + MOUNTED,
        "MLFLOW_TRACKING_TOKEN": TRACKING_TOKEN + MOUNTED,
        "MLOPS_ALERT_WEBHOOK_URL": webhook_url + MOUNTED,
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    try:
        defs = build_definitions(load_settings())
        snapshot = _repository_snapshot(defs)
        assert _found_in_text("repository snapshot", snapshot) == []
        for variable in ("MLOPS_ALERT_WEBHOOK_URL", "MLFLOW_TRACKING_URI", "LAKEFS_SECRET_ACCESS_KEY"):
            assert variable in snapshot, f"the snapshot names {variable}"
        with dg.build_resources(
            {"alerts": defs.resources["alerts"], "mlflow": defs.resources["mlflow"]}
        ) as built:
            assert built.alerts.send({"event": "test"}), "delivered to the URL without its newline"
            assert built.mlflow.tracker().tracking_uri == "https://mlflow.example:5000"
    finally:
        hook.shutdown()
    assert len(_Webhook.received) == 1


@pytest.mark.parametrize("failure", ["refused", "HTTP 500", "a control character in the URL"])
def test_a_failing_webhook_is_logged_by_its_host_only(failure, caplog, capfd):
    _Webhook.received = []
    hook = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{hook.server_port}"
    url = {
        "refused": f"http://127.0.0.1:9/hooks/{WEBHOOK_TOKEN}?token={WEBHOOK_TOKEN}",
        "HTTP 500": f"{base}/hooks/{WEBHOOK_TOKEN}",
        "a control character in the URL": f"{base}/hooks/{WEBHOOK_TOKEN} x",
    }[failure]
    _Webhook.status = 500
    try:
        with caplog.at_level(logging.DEBUG):
            assert AlertResource(webhook_url=url, timeout_seconds=5).send({"event": "test"}) is False
    finally:
        hook.shutdown()
        _Webhook.status = 204
    assert "alert webhook http://127.0.0.1:" in caplog.text, "the failure is logged with its host"
    output = capfd.readouterr()
    assert _found_in_text("Python logging", caplog.text) == []
    assert _found_in_text("stdout/stderr", output.out + output.err) == []


def test_the_demo_prints_the_tracking_server_by_its_host(tmp_path, capsys):
    from mlops_assets.demo import _print_summary

    settings = load_settings({"MLOPS_HOME": str(tmp_path / "mlops"), "MLFLOW_TRACKING_URI": BASIC_AUTH_URI})
    _print_summary(settings, build_definitions(settings), None, 1.0, tmp_path / "dagster")
    printed = capsys.readouterr().out
    assert "MLflow          : https://mlflow.example:5000/…" in printed
    assert _found_in_text("the demo's summary", printed) == []
