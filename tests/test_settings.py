"""Settings: embedded defaults, production requirements, and clear errors that never show a secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlops_assets.errors import SettingsError
from mlops_assets.settings import load_settings, project_root
from tests.conftest import PROJECT_ROOT

SECRET = "s3cr3t-value-that-must-never-print"


def test_embedded_defaults_need_no_variable():
    settings = load_settings({})
    assert settings.env == "local"
    assert settings.home == project_root() / ".mlops"
    assert settings.landing_dir == settings.home / "landing"
    assert settings.store_backend == "local"
    assert settings.dagster_home == settings.home / "dagster"


def test_mlops_home_moves_every_state_directory(tmp_path):
    settings = load_settings({"MLOPS_HOME": str(tmp_path)})
    assert settings.landing_dir == tmp_path / "landing"
    assert settings.local_store_dir == tmp_path / "store"
    assert settings.dagster_home == tmp_path / "dagster"


def test_lakefs_endpoint_selects_lakefs_and_keeps_the_secret_out_of_repr():
    settings = load_settings(
        {
            "LAKEFS_ENDPOINT": "http://127.0.0.1:8000",
            "LAKEFS_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "LAKEFS_SECRET_ACCESS_KEY": SECRET,
        }
    )
    assert settings.store_backend == "lakefs"
    assert settings.lakefs.repository == "mlops"
    assert settings.lakefs.secret_access_key.get_secret_value() == SECRET
    assert SECRET not in repr(settings) and SECRET not in str(settings)


def test_warehouse_postgres_is_all_or_nothing_and_keeps_its_password_out_of_repr():
    assert load_settings({}).warehouse_pg is None  # embedded: the marts stay in the DuckDB file
    settings = load_settings(
        {
            "MLOPS_WAREHOUSE_PG_HOST": "pg",
            "MLOPS_WAREHOUSE_PG_DB": "mlops_warehouse",
            "MLOPS_WAREHOUSE_PG_USERNAME": "mlops_dbt",
            "MLOPS_WAREHOUSE_PG_PASSWORD": SECRET,
        }
    )
    assert (settings.warehouse_pg.host, settings.warehouse_pg.port) == ("pg", 5432)
    assert settings.warehouse_pg.password.get_secret_value() == SECRET
    assert SECRET not in repr(settings) and SECRET not in str(settings)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"MLOPS_STORE": "lakefs"}, ["LAKEFS_ENDPOINT", "LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY"]),
        ({"LAKEFS_ENDPOINT": "http://x:8000", "LAKEFS_SECRET_ACCESS_KEY": SECRET}, ["LAKEFS_ACCESS_KEY_ID"]),
        (
            {"LAKEFS_ENDPOINT": "ftp://x", "LAKEFS_ACCESS_KEY_ID": "a", "LAKEFS_SECRET_ACCESS_KEY": SECRET},
            ["LAKEFS_ENDPOINT"],
        ),
        ({"MLOPS_STORE": "s3"}, ["MLOPS_STORE"]),
        ({"MLOPS_ENV": "staging"}, ["MLOPS_ENV"]),
        (
            {"MLOPS_ENV": "prod"},
            ["LAKEFS_ENDPOINT", "DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD", "MLFLOW_TRACKING_URI"],
        ),
        (
            {
                "MLOPS_ENV": "prod",
                "LAKEFS_ENDPOINT": "http://lakefs:8000",
                "LAKEFS_ACCESS_KEY_ID": "a",
                "LAKEFS_SECRET_ACCESS_KEY": SECRET,
            },
            ["LAKEFS_STORAGE_NAMESPACE"],
        ),
        ({"MLOPS_EXECUTOR": "celery"}, ["MLOPS_EXECUTOR"]),
        (
            {
                "MLOPS_WAREHOUSE_PG_HOST": "pg",
                "MLOPS_WAREHOUSE_PG_PASSWORD": SECRET,
                "MLOPS_WAREHOUSE_PG_PORT": "x",
            },
            ["MLOPS_WAREHOUSE_PG_DB", "MLOPS_WAREHOUSE_PG_USERNAME", "MLOPS_WAREHOUSE_PG_PORT"],
        ),
        ({"MLOPS_ENV": "prod", "MLOPS_WAREHOUSE_PG_PASSWORD": SECRET}, ["MLOPS_WAREHOUSE_PG_HOST"]),
        ({"MLOPS_BRANCH_RETENTION_DAYS": "-1"}, ["MLOPS_BRANCH_RETENTION_DAYS"]),
        ({"MLOPS_DBT_LOCK_RETRIES": "11"}, ["MLOPS_DBT_LOCK_RETRIES='11'", "from 0 to 10"]),
        ({"MLOPS_DBT_LOCK_RETRIES": "-1"}, ["MLOPS_DBT_LOCK_RETRIES='-1'"]),
        ({"MLOPS_DBT_LOCK_RETRIES": "two"}, ["MLOPS_DBT_LOCK_RETRIES='two'"]),
        ({"MLOPS_DBT_LOCK_RETRY_WAIT_S": "0"}, ["MLOPS_DBT_LOCK_RETRY_WAIT_S='0'", "from 1 to 3600"]),
        ({"MLOPS_DBT_LOCK_RETRY_WAIT_S": "nan"}, ["MLOPS_DBT_LOCK_RETRY_WAIT_S='nan'"]),
        ({"MLOPS_DBT_LOCK_RETRY_WAIT_S": "inf"}, ["MLOPS_DBT_LOCK_RETRY_WAIT_S='inf'"]),
    ],
)
def test_bad_settings_name_every_problem_without_the_secret(environ, named):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    message = str(caught.value)
    for variable in named:
        assert variable in message
    assert SECRET not in message


def test_code_location_refuses_to_load_with_bad_settings(tmp_path):
    env = {
        **os.environ,
        "MLOPS_HOME": str(tmp_path),
        "MLOPS_STORE": "lakefs",
        "LAKEFS_ENDPOINT": "http://127.0.0.1:9",
        "LAKEFS_SECRET_ACCESS_KEY": SECRET,
    }
    env.pop("LAKEFS_ACCESS_KEY_ID", None)
    done = subprocess.run(
        [sys.executable, "-c", "import mlops_assets.definitions"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "SettingsError" in done.stderr and "LAKEFS_ACCESS_KEY_ID: required" in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_dbt_lock_retries_default_and_accept_their_bounds():
    defaults = load_settings({})
    assert (defaults.dbt_lock_retries, defaults.dbt_lock_retry_wait_s) == (3, 120.0)
    edge = load_settings({"MLOPS_DBT_LOCK_RETRIES": "0", "MLOPS_DBT_LOCK_RETRY_WAIT_S": "3600"})
    assert (edge.dbt_lock_retries, edge.dbt_lock_retry_wait_s) == (0, 3600.0)


def test_readme_documents_every_setting():
    from mlops_assets.settings import DOCUMENTED_VARIABLES

    readme = (PROJECT_ROOT / "README.md").read_text()
    for variable in DOCUMENTED_VARIABLES:
        assert f"| `{variable}` |" in readme, f"README settings table lacks {variable}"


def test_the_embedded_instance_monitors_and_retries_crashed_runs(tmp_path, monkeypatch):
    """The dagster.yaml `make dev` uses: run monitoring on (a stuck run is failed), one retry of a
    run whose worker crashed, none of a run that failed on its data."""
    import dagster as dg

    from mlops_assets.embedded.run_launcher import LocalRunLauncher
    from mlops_assets.instance import prepare_instance

    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # prepare_instance sets it; restored after
    home = prepare_instance(load_settings({"MLOPS_HOME": str(tmp_path / "mlops")}))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_runtime_seconds == 21600
        # A dead run worker is seen by the launcher's health check (tests/test_worker_killed.py) and
        # failed, not resumed: the local launcher cannot resume a run.
        assert isinstance(instance.run_launcher, LocalRunLauncher)
        assert instance.run_launcher.supports_check_run_worker_health
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        assert instance.get_settings("run_retries")["retry_on_asset_or_op_failure"] is False


def test_prepare_instance_upgrades_an_unedited_earlier_dagster_yaml_and_keeps_an_edited_one(
    tmp_path, monkeypatch
):
    from mlops_assets.instance import EMBEDDED_DAGSTER_YAML, prepare_instance

    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # prepare_instance sets it; restored after
    settings = load_settings({"MLOPS_HOME": str(tmp_path / "mlops")})
    config = settings.dagster_home / "dagster.yaml"
    config.parent.mkdir(parents=True)
    # What the previous version wrote (freshness's preview switch, on by default since Dagster 1.12)...
    previous = EMBEDDED_DAGSTER_YAML.replace(
        "telemetry:\n  enabled: false\n",
        "telemetry:\n  enabled: false\n# Open-source Dagster evaluates FreshnessPolicy only with this (preview) switch.\n"
        "freshness:\n  enabled: true\n",
    )
    config.write_text(previous)
    prepare_instance(settings)
    assert config.read_text() == EMBEDDED_DAGSTER_YAML
    # ...and an earlier one (Dagster's own launcher, blind to a dead worker).
    earlier = previous.replace(
        """# Dagster's launcher (run workers are processes of the code server), plus a health check the run
# monitor calls: it finds the run worker's pid in the run's events and watches that process.
run_launcher:
  module: mlops_assets.embedded.run_launcher
  class: LocalRunLauncher
# The daemon fails a run whose worker died (checked every poll; a local worker cannot be resumed)
# or that never starts, stops one that outlives max_runtime_seconds, and retries once a run that
# failed for a reason other than its own steps (a crashed or killed worker). A run whose data failed
# a step or check is not retried: it would fail again the same way.
""",
        """# The daemon fails a run that never starts or outlives max_runtime_seconds (the local launcher
# cannot see a run worker die; this is how such a run stops holding its slot), and retries once a
# run that failed for a reason other than its own steps (a crashed or killed worker). A run whose
# data failed a step or check is not retried: it would fail again the same way.
""",
    ).replace("  max_resume_run_attempts: 0\n  poll_interval_seconds: 10\n", "  poll_interval_seconds: 30\n")
    earlier = earlier.replace(
        """# Dagster's sqlite event log with its connections kept open (mlops_assets/embedded/event_log_storage.py):
# the same files and schema, about 5x faster a write, which is what a year of partitions costs.
event_log_storage:
  module: mlops_assets.embedded.event_log_storage
  class: PooledSqliteEventLogStorage
""",
        "",
    )
    config.write_text(earlier)
    prepare_instance(settings)
    assert config.read_text() == EMBEDDED_DAGSTER_YAML

    edited = earlier.replace("max_concurrent_runs: 2", "max_concurrent_runs: 1")
    config.write_text(edited)
    prepare_instance(settings)
    assert config.read_text() == edited
