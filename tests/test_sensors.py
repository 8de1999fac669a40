"""Sensors: one request per newly landed day (idempotent), and alerts on failed runs."""

from __future__ import annotations

import json
import os
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import polars as pl
import pytest

from mlops_assets.lib.landing import land_days
from mlops_assets.platform.automation.sensors import alert_on_run_failure, landing_sensor
from mlops_assets.resources import LandingZoneResource
from mlops_assets.resources.alerts import AlertResource


def _evaluate(landing_dir, cursor):
    context = dg.build_sensor_context(
        cursor=cursor,
        instance=dg.DagsterInstance.ephemeral(),
        resources={"landing": LandingZoneResource(directory=str(landing_dir))},
    )
    result = landing_sensor(context)
    if isinstance(result, dg.SkipReason):
        return [], cursor
    return result.run_requests, result.cursor


def test_landing_sensor_requests_each_new_day_once(tmp_path):
    landing = tmp_path / "landing"
    land_days(landing, date(2013, 5, 1), date(2013, 5, 3))
    requests, cursor = _evaluate(landing, None)
    days = [r.partition_key for r in requests if r.partition_key]
    assert days == ["2013-05-01", "2013-05-02", "2013-05-03"]
    assert all(r.tags["mlops/trigger"] == "landing_sensor" for r in requests)
    # The small raw jobs run every step in one process (no code-location import per step).
    assert {r.job_name for r in requests if r.partition_key} == {"raw_daily"}
    assert [r for r in requests if not r.partition_key][0].tags["mlops/landed"] == "dimensions"

    assert _evaluate(landing, cursor)[0] == []  # idempotent: nothing new, nothing requested

    # A day delivered late, and a day re-delivered by upstream: one request each.
    land_days(landing, date(2013, 4, 30), date(2013, 4, 30))
    redelivered = landing / "flights" / "2013-05-02.parquet"
    os.utime(redelivered, ns=(redelivered.stat().st_atime_ns, redelivered.stat().st_mtime_ns + 10**9))
    requests, cursor = _evaluate(landing, cursor)
    assert sorted(r.partition_key for r in requests) == ["2013-04-30", "2013-05-02"]
    assert len({r.run_key for r in requests}) == 2


def test_a_day_with_only_one_table_landed_waits(tmp_path):
    landing = tmp_path / "landing"
    land_days(landing, date(2013, 5, 1), date(2013, 5, 1))
    (landing / "weather" / "2013-05-01.parquet").unlink()
    requests, _ = _evaluate(landing, None)
    assert [r.partition_key for r in requests if r.partition_key] == []


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Webhook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/mlops", _Webhook.received
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_failed_run_is_logged_and_posted_to_the_webhook(webhook, caplog):
    url, received = webhook

    @dg.asset
    def broken():
        raise RuntimeError("upstream file vanished")

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [broken], instance=instance, raise_on_error=False, tags={"mlops/trigger": "landing_sensor"}
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources={"alerts": AlertResource(webhook_url=url)},
        ).for_run_failure()
        alert_on_run_failure(context)
    assert len(received) == 1
    assert received[0]["run_id"] == result.run_id
    assert received[0]["trigger"] == "landing_sensor"
    assert "broken" in received[0]["message"]
    assert any("ALERT" in r.message for r in caplog.records)


def test_an_unreachable_webhook_never_breaks_alerting():
    assert (
        AlertResource(webhook_url="http://127.0.0.1:9/nothing", timeout_seconds=2).send({"event": "x"})
        is False
    )


def test_a_fresh_cursor_skips_days_already_published_since_they_landed(tmp_path):
    landing = tmp_path / "landing"
    land_days(landing, date(2013, 5, 1), date(2013, 5, 2))
    with dg.instance_for_test() as instance:
        for table in ("flights", "weather"):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=["raw", table], partition="2013-05-01")
            )
        # Only flights of the 2nd were materialized since landing: its weather still needs the run.
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=["raw", "flights"], partition="2013-05-02")
        )
        for table in ("airports", "planes", "airlines"):
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=["raw", table]))
        context = dg.build_sensor_context(
            instance=instance, resources={"landing": LandingZoneResource(directory=str(landing))}
        )
        result = landing_sensor(context)
    assert [r.partition_key for r in result.run_requests if r.partition_key] == ["2013-05-02"]
    # The dimensions were published after their files landed: a fresh cursor does not redo them.
    assert not [r for r in result.run_requests if not r.partition_key]


def test_dimension_files_delivered_as_csv_are_seen(tmp_path):
    landing = tmp_path / "landing"
    land_days(landing, date(2013, 5, 1), date(2013, 5, 1))
    planes = landing / "dimensions" / "planes.parquet"
    pl.read_parquet(planes).write_csv(planes.with_suffix(".csv"))
    planes.unlink()
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"landing": LandingZoneResource(directory=str(landing))}
        )
        result = landing_sensor(context)
    dimension_runs = [r for r in result.run_requests if not r.partition_key]
    assert len(dimension_runs) == 1
    assert dimension_runs[0].job_name == "raw_dimensions"


def _retrain_tick(specs, store_dir):
    from mlops_assets.platform.automation.sensors import build_retrain_sensor
    from mlops_assets.resources import VersionedStoreResource

    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        resources={"store": VersionedStoreResource(local_dir=str(store_dir))},
    )
    return build_retrain_sensor(specs)(context)


def test_one_models_failure_never_stops_the_retrain_sensor_for_the_others(tmp_path):
    """Issue 31: a spec whose numbers overflow date arithmetic made every tick fail, for every model."""
    from mlops_assets.lib.model_spec import load_spec
    from mlops_assets.lib.versioned_store import LocalStore
    from mlops_assets.lib.versioned_store.wap import encode_table, publish, stage, table_path, wap_branch
    from mlops_assets.settings import MODELS_DIR

    store = LocalStore(tmp_path / "store")
    store.ensure_repository()
    days = [f"2013-01-{d:02d}" for d in range(1, 21)]
    objects = {
        table_path(["features", "flight_features"], d): encode_table(pl.DataFrame({"x": [1]})) for d in days
    }
    branch = wap_branch("0f0e0d0c-0b0a-4908-8706-050403020100", ["features", "flight_features"])
    stage(store, branch, objects, "features", {})
    publish(store, branch, "features", {})
    healthy = load_spec(MODELS_DIR / "arrival_delay")
    late = load_spec(MODELS_DIR / "late_arrival")
    # Past validation (a spec loaded before the limits existed): timedelta(days=10**11) overflows.
    broken = late.model_copy(update={"training": late.training.model_copy(update={"window_days": 10**11})})

    result = _retrain_tick([broken, healthy], tmp_path / "store")
    assert [r.tags["mlops/spec"] for r in result.run_requests] == ["arrival_delay"]
    assert result.run_requests[0].tags["mlops/retrain_reason"] == "initial"
    # The failed model keeps no state: it is evaluated again next tick.
    assert set(json.loads(result.cursor)) == {"arrival_delay"}

    alone = _retrain_tick([broken], tmp_path / "store")
    assert not alone.run_requests
    assert "late_arrival: evaluation failed (OverflowError" in alone.skip_reason.skip_message
