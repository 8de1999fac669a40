"""The command line as a user runs it: landing files the way upstream delivers them."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl
import pytest

from tests.conftest import PROJECT_ROOT, add_run, expected_rows


def _cli(*args: str, home, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLOPS_HOME": str(home), **(extra_env or {})}
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


@pytest.mark.parametrize("backend", ["local", "lakefs"])
def test_gc_branches_removes_only_branches_of_runs_it_sees_finished_past_the_retention(
    backend, tmp_path, monkeypatch, request
):
    import dagster as dg

    from mlops_assets.instance import prepare_instance
    from mlops_assets.lib.versioned_store import LocalStore
    from mlops_assets.lib.versioned_store.wap import wap_branch
    from mlops_assets.settings import load_settings

    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # prepare_instance sets it; restored after
    lakefs: dict[str, str] = {}
    if backend == "lakefs":  # the real server where there is one: the branches are lakeFS's own
        service = request.getfixturevalue("lakefs_service")
        repository, namespace = service.new_repository("gc")
        lakefs = service.environment(repository, namespace)
        store = service.store(repository, namespace)
        request.addfinalizer(lambda: service.delete_repository(repository))
    settings = load_settings({"MLOPS_HOME": str(tmp_path / "mlops"), **lakefs})
    if backend == "local":
        store = LocalStore(settings.local_store_dir)
    store.ensure_repository()
    with dg.DagsterInstance.from_config(str(prepare_instance(settings))) as instance:
        runs = {
            "running": add_run(instance, 9, finished=False),
            "old": add_run(instance, 9),
            "fresh": add_run(instance, 0.5),
        }
    runs["unknown"] = "0f0e0d0c-0b0a-4908-8706-050403020100"  # another instance's run, or a deleted record
    branch = {name: wap_branch(run_id, ["raw", "flights"]) for name, run_id in runs.items()}
    for name in branch.values():
        store.create_branch(name)

    gc = _cli("gc-branches", "--older-than-days", "1", home=tmp_path / "mlops", extra_env=lakefs)
    assert gc.returncode == 0, gc.stderr
    assert f"removed {branch['old']} (9.0 days old)" in gc.stdout
    assert f"kept {branch['running']}: its run is in progress" in gc.stdout
    assert f"kept {branch['unknown']}: this Dagster instance does not know its run" in gc.stdout
    assert "removed 1 unpublished WAP branch(es)" in gc.stdout
    assert {b.name for b in store.list_branches()} == {"main", *branch.values()} - {branch["old"]}


@pytest.mark.parametrize("days", ["-1", "0", "0.5", "nan", "inf", "-inf", "99999", "soon"])
def test_gc_branches_refuses_an_age_that_is_negative_not_finite_or_under_a_day(tmp_path, days):
    gc = _cli("gc-branches", f"--older-than-days={days}", home=tmp_path / "mlops")
    assert gc.returncode == 2
    expected = (
        "'soon' is not a number of days like 7"
        if days == "soon"
        else f"--older-than-days={float(days)!r}: expected a number of days from 1"
    )
    assert f"error: argument --older-than-days: {expected}" in gc.stderr, gc.stderr
    assert not (tmp_path / "mlops").exists()  # refused before any state is touched


def test_gc_branches_refuses_a_retention_setting_under_a_day(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mlops_assets", "gc-branches"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MLOPS_HOME": str(tmp_path / "mlops"), "MLOPS_BRANCH_RETENTION_DAYS": "-3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "MLOPS_BRANCH_RETENTION_DAYS=-3.0: expected a number of days from 1" in done.stderr, done.stderr
