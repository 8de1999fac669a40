"""End to end with the real webserver and daemon: land one file, see the chain happen by itself,
and count the work it caused on a year of history: that day's chain, nothing of the other days."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.instance import prepare_instance
from mlops_assets.lib.landing import land_days
from mlops_assets.settings import load_settings
from tests.conftest import PROJECT_ROOT, QUIET, RANGE_END, RANGE_START, build_world
from tests.processes import free_port, stop_group

# `make test-extended`, run by CI after `make test`: a year under the real daemon takes minutes.
pytestmark = [pytest.mark.slow, pytest.mark.extended]
SPECS = ("late_arrival", "arrival_delay")
CHAIN = [
    dg.AssetKey(["raw", "flights"]),
    dg.AssetKey(["features", "flight_features"]),
    dg.AssetKey(["predictions", "late_arrival"]),
    dg.AssetKey(["monitoring", "late_arrival", "daily_report"]),
    dg.AssetKey(["dbt", "marts", "fct_model_daily_performance"]),
]
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.NOT_STARTED,
]


def _materialized(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    )
    return records.records[0] if records.records else None


def _what_happened(instance: dg.DagsterInstance, log: Path) -> str:
    """The runs (status, trigger, what failed) and the end of ``dagster dev``'s output: what a
    failure of this test must say, since it runs once per CI and cannot be watched."""
    lines = []
    for run in reversed(instance.get_runs(limit=60)):
        lines.append(
            f"{run.run_id[:8]} {run.job_name} {run.status.value} {run.tags.get('mlops/trigger', '')}"
        )
        for record in instance.get_records_for_run(
            run.run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
        ).records:
            event = record.event_log_entry.dagster_event
            error = getattr(event.event_specific_data, "error", None) if event else None
            while error is not None and error.cause is not None:  # the user code's own error
                error = error.cause
            said = error.message.strip() if error else (event.message if event else "")
            lines.append(f"    {record.event_log_entry.step_key or 'run'}: {said}")
    tail = log.read_text(errors="replace")[-6000:] if log.exists() else "(no output)"
    return "\n".join(["runs, oldest first:", *lines, "dagster dev, last lines:", tail])


def _materializations_after(instance: dg.DagsterInstance, keys, storage_id: int) -> Counter:
    """(asset, partition) -> how many times it was computed (a check's publication is not counted again)."""
    counts: Counter = Counter()
    for key in keys:
        for record in instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=storage_id), limit=10_000
        ).records:
            if "published" not in record.asset_materialization.metadata:
                counts[(key.to_user_string(), record.partition_key)] += 1
    return counts


@pytest.mark.parametrize(
    "history",
    [
        # A year: raw and features for the whole of 2013 up to the day before, the rest for two weeks.
        # (A month of history runs the same chain; tests/test_automation.py compares the two tick by
        # tick: the real daemon is run on the year only, the costlier and stronger case.)
        ("2013-01-01", "2013-12-20"),
    ],
    ids=["year"],
)
@pytest.mark.timeout(1500)  # the waits below are bounded, and say what happened when they run out
def test_one_landed_day_runs_its_chain_by_itself_and_only_its_chain(tmp_path, monkeypatch, history):
    began = time.monotonic()
    first, last = history
    scored_from = (date.fromisoformat(last) - timedelta(days=13)).isoformat()
    new_day = (date.fromisoformat(last) + timedelta(days=1)).isoformat()
    home = tmp_path / "mlops"
    settings = load_settings({"MLOPS_HOME": str(home)})
    dagster_home = prepare_instance(settings)  # the embedded instance `make dev` uses
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        defs = build_world(settings, instance, first, last)
        assert (
            defs.resolve_job_def("train_models")
            .execute_in_process(instance=instance, run_config=QUIET)
            .success
        )
        scored = defs.resolve_job_def("daily_assets").execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags={RANGE_START: scored_from, RANGE_END: last},
            asset_selection=[
                k
                for k in defs.resolve_job_def("daily_assets").asset_layer.executable_asset_keys
                if k.path[0] in ("predictions", "monitoring")
            ],
        )
        assert scored.success
        graph = defs.resolve_asset_graph()
        keys = list(graph.get_all_asset_keys())
        watermark = instance.event_log_storage.get_maximum_record_id() or 0

        print(f"history built and scored in {time.monotonic() - began:.0f} s")
        port = free_port()
        log_path = tmp_path / "dagster-dev.log"
        log = log_path.open("w")
        env = {**os.environ, "MLOPS_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
        server = subprocess.Popen(
            [
                os.path.join(os.path.dirname(sys.executable), "dagster"),
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(1)
            else:
                pytest.fail("dagster dev did not answer within 120 s")

            # Upstream delivers one new day. Nobody launches anything.
            land_days(settings.landing_dir, date.fromisoformat(new_day), date.fromisoformat(new_day))
            landed = time.monotonic()
            deadline = landed + 600
            while time.monotonic() < deadline and not all(_materialized(instance, k, new_day) for k in CHAIN):
                time.sleep(5)
            missing = [k.to_user_string() for k in CHAIN if not _materialized(instance, k, new_day)]
            assert not missing, (
                f"not materialized within 600 s: {missing}\n{_what_happened(instance, log_path)}"
            )
            print(f"the chain ran in {time.monotonic() - landed:.0f} s")
            # Then let automation settle: no run in progress for 35 s (two automation ticks).
            quiet_since, deadline = time.monotonic(), time.monotonic() + 300
            while time.monotonic() < deadline and time.monotonic() - quiet_since < 35:
                if instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS)):
                    quiet_since = time.monotonic()
                time.sleep(3)
        finally:
            stop_group(server)
            log.close()

        triggers = {
            k.to_user_string(): instance.get_run_by_id(_materialized(instance, k, new_day).run_id).tags.get(
                "mlops/trigger"
            )
            for k in CHAIN
        }
        assert triggers["raw/flights"] == "landing_sensor"
        assert triggers["features/flight_features"] == "automation_condition"
        assert triggers["monitoring/late_arrival/daily_report"] == "automation_condition"
        assert triggers["dbt/marts/fct_model_daily_performance"] == "automation_condition"

        # The work one new day caused, whatever the history: its chain, the previous day's reports
        # (its labels landed), the summaries and the overview, dbt for both days; a retrain if one is due.
        work = _materializations_after(instance, keys, watermark)
        marts = [k.to_user_string() for k in keys if k.path[0] == "dbt"]
        minimal = (
            {("raw/flights", new_day), ("raw/weather", new_day), ("features/flight_features", new_day)}
            | {(f"predictions/{s}", new_day) for s in SPECS}
            | {(f"monitoring/{s}/daily_report", d) for s in SPECS for d in (new_day, last)}
            | {("monitoring/daily_reports", d) for d in (new_day, last)}
            | {(k, d) for k in marts for d in (new_day, last)}
            | {(f"monitoring/{s}/summary", None) for s in SPECS}
            | {("monitoring/overview", None)}
        )
        retrains = sum(n for (asset, _), n in work.items() if asset.startswith("models/"))
        days_touched = sorted({p for (_, p) in work if p})
        print(
            json.dumps(
                {
                    "history": f"{first}..{last}",
                    "materializations": sum(work.values()),
                    "minimal": len(minimal),
                    "retrains": retrains,
                    "days": days_touched,
                }
            )
        )
        assert minimal <= set(work), f"not done: {sorted(minimal - set(work))}"
        assert days_touched == [last, new_day], f"work on other days: {days_touched}"
        assert sum(work.values()) - retrains <= 2 * len(minimal), dict(work)
