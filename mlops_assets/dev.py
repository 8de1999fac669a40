"""``make dev``: the Dagster UI and, beside it, the MLflow UI over the same tracking store, and
the local versioned store's objects (the HTML reports linked from materializations).

On embedded defaults MLflow is a sqlite store under ``MLOPS_HOME``: nothing serves it, so a
model's materialization would have no link to its run and registered version. ``serve`` starts
``mlflow server`` on 127.0.0.1 over that store (its own port), tells the code location where it
is (``MLOPS_MLFLOW_UI_URL``: model materializations link to it), runs ``dagster dev``, and stops
the MLflow server by its own process group when Dagster exits. With an http tracking URI (a
team's MLflow server) that server is the UI and nothing more is started. Likewise a lakeFS server
serves its own objects; for the local store a read-only store browser (``store_browser``) is
started on 127.0.0.1 and the code location's report links point at it (``MLOPS_STORE_UI_URL``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from mlops_assets.errors import MlopsError
from mlops_assets.settings import Settings, project_root

MLFLOW_START_SECONDS = 120


def _wait_until_serving(url: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MlopsError(f"the MLflow UI exited with code {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise MlopsError(f"the MLflow UI did not answer at {url} within {seconds:.0f} s")


def start_mlflow_ui(settings: Settings, port: int) -> tuple[subprocess.Popen, str]:
    """``mlflow server`` on 127.0.0.1:``port`` over the local tracking store; returns it and its URL."""
    from mlops_assets.lib.tracking.tracker import _create_sqlite_store_once

    uri = settings.mlflow_tracking_uri.get_secret_value()
    if uri.startswith("sqlite:///"):
        _create_sqlite_store_once(uri)  # migrated once, before the server and the code location race
    log = settings.home / "mlflow" / "ui.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        "--backend-store-uri", uri,
        "--default-artifact-root", settings.mlflow_artifact_dir.resolve().as_uri(),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, process, MLFLOW_START_SECONDS)
    except MlopsError:
        _stop(process)
        raise
    return process, url


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def serve(settings: Settings, dagster_port: int, mlflow_port: int, store_port: int) -> int:
    from mlops_assets.instance import prepare_instance

    dagster_home = prepare_instance(settings)
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    with ExitStack() as stack:
        if settings.store_backend == "local":
            from mlops_assets.platform.resources import store_resource
            from mlops_assets.store_browser import StoreBrowser

            browser = stack.enter_context(StoreBrowser(store_resource(settings).open(), store_port))
            env["MLOPS_STORE_UI_URL"] = browser.url
            print(f"Versioned store objects (reports): {browser.url}", flush=True)
        else:
            print(f"Versioned store objects (reports): {settings.store_ui_url} (lakeFS)", flush=True)
        return _serve_uis(settings, env, dagster_port, mlflow_port)


def _serve_uis(settings: Settings, env: dict[str, str], dagster_port: int, mlflow_port: int) -> int:
    mlflow = None
    if settings.mlflow_tracking_uri.get_secret_value().startswith(("http://", "https://")):
        print(
            f"MLflow UI: {settings.mlflow_ui_url or 'the tracking server'} (MLFLOW_TRACKING_URI)", flush=True
        )
    else:
        mlflow, url = start_mlflow_ui(settings, mlflow_port)
        env["MLOPS_MLFLOW_UI_URL"] = settings.mlflow_ui_url or url
        print(f"MLflow UI: {url} (over {settings.mlflow_tracking_uri})", flush=True)
    print(f"Dagster UI: http://127.0.0.1:{dagster_port}", flush=True)
    dagster = [
        str(Path(sys.executable).with_name("dagster")), "dev", "-w", str(project_root() / "workspace.yaml"),
        "-h", "127.0.0.1", "-p", str(dagster_port),
    ]  # fmt: skip
    # SIGTERM (a supervisor, `kill`) must stop the MLflow UI too, like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return subprocess.run(dagster, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 130
    finally:
        if mlflow is not None:
            _stop(mlflow)
