"""The command line as a user runs it: landing files the way upstream delivers them."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl

from tests.conftest import PROJECT_ROOT, expected_rows


def _cli(*args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLOPS_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "mlops_assets", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_land_delivers_one_file_per_table_and_day(tmp_path):
    done = _cli("land", "--start", "2013-01-01", "--end", "2013-01-03", home=tmp_path)
    assert done.returncode == 0, done.stderr
    landing = tmp_path / "landing"
    assert sorted(p.name for p in (landing / "flights").iterdir()) == [
        f"2013-01-0{d}.parquet" for d in (1, 2, 3)
    ]
    assert pl.read_parquet(landing / "flights" / "2013-01-02.parquet").height == expected_rows(
        "flights", "2013-01-02"
    )
    assert sorted(p.name for p in (landing / "dimensions").iterdir()) == [
        "airlines.parquet",
        "airports.parquet",
        "planes.parquet",
    ]
    # Landing again is idempotent: nothing new is delivered.
    again = _cli("land", "--start", "2013-01-01", "--end", "2013-01-03", home=tmp_path)
    assert "landed 0 file(s)" in again.stdout


def test_bad_dates_are_one_clear_error(tmp_path):
    done = _cli("land", "--start", "2013-02-30", home=tmp_path)
    assert done.returncode == 2
    assert "'2013-02-30' is not a date like 2013-01-21" in done.stderr


def test_prepare_dbt_parses_the_project_offline_and_writes_only_its_manifest(tmp_path):
    import json
    import shutil

    project = tmp_path / "dbt_project"
    shutil.copytree(PROJECT_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    env = {**os.environ, "MLOPS_HOME": str(tmp_path / "mlops"), "MLOPS_DBT_PROJECT_DIR": str(project)}
    done = subprocess.run(
        [sys.executable, "-m", "mlops_assets", "prepare-dbt"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {"stg_predictions", "fct_model_daily_performance", "dim_model_versions"} <= models
    assert not (tmp_path / "mlops").exists()  # nothing written to the state directory


def test_gc_branches_removes_stale_wap_branches_but_never_a_running_runs(tmp_path, monkeypatch):
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    from mlops_assets.instance import prepare_instance
    from mlops_assets.lib.versioned_store import LocalStore
    from mlops_assets.lib.versioned_store.wap import wap_branch
    from mlops_assets.settings import load_settings

    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # prepare_instance sets it; restored after
    settings = load_settings({"MLOPS_HOME": str(tmp_path / "mlops")})
    store = LocalStore(settings.local_store_dir)
    store.ensure_repository()
    with dg.DagsterInstance.from_config(str(prepare_instance(settings))) as instance:
        running = instance.add_run(
            DagsterRun(job_name="daily_assets", status=DagsterRunStatus.STARTED)
        ).run_id
        done = instance.add_run(DagsterRun(job_name="daily_assets", status=DagsterRunStatus.FAILURE)).run_id
    for run_id in (running, done):
        store.create_branch(wap_branch(run_id, ["raw", "flights"]))

    gc = _cli("gc-branches", "--older-than-days", "0", home=tmp_path / "mlops")
    assert gc.returncode == 0, gc.stderr
    assert f"kept {wap_branch(running, ['raw', 'flights'])}: its run is in progress" in gc.stdout
    assert "removed 1 unpublished WAP branch(es)" in gc.stdout
    assert {b.name for b in store.list_branches()} == {"main", wap_branch(running, ["raw", "flights"])}
